"""Background compaction of document update logs into snapshots, and the retention of history and checkpoints."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from tasks import housekeeping
from workspace.collab import files, retention

logger = logging.getLogger(__name__)


@shared_task(name="collab.compact_document", acks_late=True, ignore_result=True)
def compact_document(file_id: int) -> int:
    """Fold the update log of a file into its snapshot; idempotent, no-op for deleted files."""
    return files.compact_document(file_id)


@housekeeping.every("history-retention", lambda: settings.RETENTION_INTERVAL_SECONDS)
def apply_retention() -> None:
    removed = retention.apply()
    if any(removed.values()):
        logger.info("retention removed %(versions)d versions, %(checkpoints)d checkpoints or deleted files", removed)
