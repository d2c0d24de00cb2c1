"""Record a job's progress and events in the database and push them to every browser of the workspace.

Browser events: "job.progress" (status, progress, step, tokens), "job.event" (one log entry),
"job.finished" (final summary) and, on every status change, "history.updated" for the dashboard and "job.queue"
(the queued jobs' positions).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from workspace.broadcast import broadcast_to_workspace
from workspace.jobs import queue
from workspace.jobs.models import FINISHED_STATUSES, Job, JobEvent, JobStatus

logger = logging.getLogger(__name__)
MAX_EVENT_MESSAGE = 8000


def broadcast(workspace_id: int, event: str, data: dict) -> None:
    """Best effort: a job must never fail because a browser could not be told."""
    try:
        broadcast_to_workspace(workspace_id, event, data)
    except Exception:  # noqa: BLE001
        logger.exception("could not broadcast %s to workspace %s", event, workspace_id)


def summary(job: Job, positions: dict[int, int] | None = None) -> dict:
    """The job as cards show it; `positions` (from `queue.positions`) saves a query per queued job of a list."""
    if job.status != JobStatus.QUEUED:
        queue_position = None
    else:
        queue_position = (positions if positions is not None else queue.positions(job.workspace_id)).get(job.id)
    return {
        "id": job.id,
        "workspace_id": job.workspace_id,
        "user": job.user.username if job.user_id and job.user else None,
        "kind": job.kind,
        "prompt": job.prompt,
        "command": job.command,
        "model": job.model,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "cost_usd": float(job.cost_usd),
        "error": job.error,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "files_changed": len((job.result or {}).get("changeset") or []),
        "queue_position": queue_position,
    }


def event_dict(event: JobEvent) -> dict:
    return {
        "seq": event.seq,
        "kind": event.kind,
        "message": event.message,
        "data": event.data,
        "created_at": event.created_at.isoformat(),
    }


def record(job: Job, kind: str, message: str, data: dict | None = None) -> JobEvent:
    """Append an event to the job's log (seq is dense and ordered) and broadcast it."""
    message = message if len(message) <= MAX_EVENT_MESSAGE else message[:MAX_EVENT_MESSAGE] + "\n[...]"
    with transaction.atomic():
        # Lock the job row so the worker and a web request never take the same seq.
        Job.objects.select_for_update().filter(id=job.id).values_list("id", flat=True).first()
        last = JobEvent.objects.filter(job_id=job.id).aggregate(last=Max("seq"))["last"] or 0
        event = JobEvent.objects.create(job_id=job.id, seq=last + 1, kind=kind, message=message, data=data or {})
    broadcast(job.workspace_id, "job.event", {"job_id": job.id, **event_dict(event)})
    return event


def progress_payload(job: Job) -> dict:
    return {
        "job_id": job.id,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "cost_usd": float(job.cost_usd),
    }


def cost_of(tokens_in: int, tokens_out: int) -> Decimal:
    cost = tokens_in * settings.DEEP_PRICE_IN_PER_MTOK + tokens_out * settings.DEEP_PRICE_OUT_PER_MTOK
    return Decimal(str(round(cost / 1_000_000, 6)))


def update_progress(job: Job, **fields) -> None:
    """Save progress fields (progress, step, tokens_*) and broadcast job.progress."""
    if "tokens_in" in fields or "tokens_out" in fields:
        fields["cost_usd"] = cost_of(fields.get("tokens_in", job.tokens_in), fields.get("tokens_out", job.tokens_out))
    for name, value in fields.items():
        setattr(job, name, value)
    Job.objects.filter(id=job.id).update(**fields)
    broadcast(job.workspace_id, "job.progress", progress_payload(job))


def status_changed(job: Job) -> None:
    """Tell browsers and the history dashboard about a new status (call after the change is committed)."""
    # The final summary goes first: it is what the browser waits for.
    if job.status in FINISHED_STATUSES:
        broadcast(job.workspace_id, "job.finished", {"job": summary(job)})
    broadcast(job.workspace_id, "job.progress", progress_payload(job))
    broadcast(job.workspace_id, "history.updated", {"kind": "job", "id": job.id, "status": job.status})
    queue_changed(job.workspace_id)


def queue_changed(workspace_id: int) -> None:
    """Every queued job's position (a job joined, left or started): "job.queue" {positions: {id: position}}."""
    broadcast(workspace_id, "job.queue", {"positions": {str(k): v for k, v in queue.positions(workspace_id).items()}})


def finish(job: Job, status: str, *, error: str = "", result: dict | None = None) -> bool:
    """Move a running (or queued) job to a final status once; False if it had already finished."""
    fields: dict = {"status": status, "finished_at": timezone.now(), "error": error, "step": str(status)}
    if status != "failed":
        fields["progress"] = 1.0
    if result is not None:
        fields["result"] = result
    changed = Job.objects.filter(id=job.id).exclude(status__in=FINISHED_STATUSES).update(**fields)
    if not changed:
        return False
    job.refresh_from_db()
    status_changed(job)
    record(job, "status", f"{status}" + (f": {error}" if error else ""), {"status": status})
    return True
