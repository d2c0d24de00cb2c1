"""Retention of history and checkpoints, applied on a schedule (sync ORM code; a worker chore in tasks/collab.py).

Compaction thins a file's versions and a new checkpoint prunes its workspace's old ones, but a file nobody edits
again, or a workspace that takes no more checkpoints, would keep what retention lets go. `apply` finds those and
applies the same rules (`versions.thin`, `checkpoints.prune`); it is idempotent and safe in several workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workspace.collab import checkpoints, versions
from workspace.collab.models import Checkpoint, CheckpointKind, DeletedFile, DocState, DocVersion


def apply(now: datetime | None = None) -> dict[str, int]:
    """Thin every file's versions past HISTORY_KEEP_ALL_DAYS and prune every workspace's automatic checkpoints and
    deleted files past CHECKPOINT_KEEP_DAYS; how many versions and checkpoints or tombstones went."""
    now = now or timezone.now()
    thinned = 0
    old_versions = now - timedelta(days=settings.HISTORY_KEEP_ALL_DAYS)
    for file_id in DocVersion.objects.filter(ended_at__lt=old_versions).values_list("file_id", flat=True).distinct():
        with transaction.atomic():
            # The file's state row locked, as compaction locks it: the two never rewrite its versions at once.
            list(DocState.objects.select_for_update().filter(file_id=file_id).values_list("file_id", flat=True))
            thinned += versions.thin(file_id, now)
    old_checkpoints = now - timedelta(days=settings.CHECKPOINT_KEEP_DAYS)
    workspaces = set(
        Checkpoint.objects.filter(kind=CheckpointKind.AUTO, created_at__lt=old_checkpoints).values_list(
            "workspace_id", flat=True
        )
    ) | set(DeletedFile.objects.filter(deleted_at__lt=old_checkpoints).values_list("workspace_id", flat=True))
    pruned = sum(checkpoints.prune(workspace_id, now) for workspace_id in sorted(workspaces))
    return {"versions": thinned, "checkpoints": pruned}
