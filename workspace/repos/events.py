"""An import's state as members see it, pushed to the workspace's browsers ("import.progress", "import.finished").

Never sent: the deploy key, the upload's server file, the ids the import created.
"""

from __future__ import annotations

import logging

from workspace.broadcast import broadcast_to_workspace
from workspace.repos.models import ImportJob

logger = logging.getLogger(__name__)


def summary(job: ImportJob) -> dict:
    return {
        "id": job.id,
        "workspace_id": job.workspace_id,
        "user": job.user.get_username() if job.user_id and job.user else None,
        "source": job.source,
        "name": job.name,
        "into": job.into,
        "ref": job.ref,
        "shallow": job.shallow,
        "status": job.status,
        "step": job.step,
        "progress": job.progress,
        "files_total": job.files_total,
        "files_done": job.files_done,
        "bytes_done": job.bytes_done,
        "summary": job.summary,
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def broadcast(job: ImportJob, event: str) -> None:
    """Best effort: an import never fails because a browser could not be told."""
    try:
        broadcast_to_workspace(job.workspace_id, event, {"import": summary(job)})
    except Exception:  # noqa: BLE001
        logger.exception("could not broadcast %s of import %s", event, job.id)
