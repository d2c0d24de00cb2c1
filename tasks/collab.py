"""Background compaction of document update logs into snapshots."""

from __future__ import annotations

from celery import shared_task

from workspace.collab import files


@shared_task(name="collab.compact_document", acks_late=True, ignore_result=True)
def compact_document(file_id: int) -> int:
    """Fold the update log of a file into its snapshot; idempotent, no-op for deleted files."""
    return files.compact_document(file_id)
