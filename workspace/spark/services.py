"""Spark request records (sync ORM code; async callers wrap these in database_sync_to_async)."""

from __future__ import annotations

from django.utils import timezone

from workspace.collab import store
from workspace.projects.models import FileNode
from workspace.spark.models import SparkRequest

EDIT_MODES = ("insert", "replace")
OFFLINE_MODES = ("format", "fix")
MODES = EDIT_MODES + ("chat",) + OFFLINE_MODES


class SparkError(Exception):
    """A request that cannot be served; the message is for the user."""


def file_in_workspace(file_id: int, workspace_id: int) -> FileNode:
    node = FileNode.objects.filter(id=file_id, workspace_id=workspace_id, is_folder=False).first()
    if node is None:
        raise SparkError("no such file in this workspace")
    return node


def create_request(
    workspace_id: int, file_id: int, user_id: int, mode: str, instruction: str, model: str, base_url: str
) -> SparkRequest:
    return SparkRequest.objects.create(
        workspace_id=workspace_id,
        file_id=file_id,
        user_id=user_id,
        mode=mode,
        instruction=instruction,
        model=model,
        base_url=base_url,
        status=SparkRequest.Status.STREAMING,
    )


def update_request(request_id: int, *, finished: bool = False, **fields) -> None:
    if finished:
        fields["finished_at"] = timezone.now()
    SparkRequest.objects.filter(id=request_id).update(**fields)


def get_request(request_id: int, workspace_id: int) -> SparkRequest:
    row = SparkRequest.objects.filter(id=request_id, workspace_id=workspace_id).first()
    if row is None:
        raise SparkError("no such Spark request in this workspace")
    return row


def file_text(file_id: int) -> str:
    return store.load_text(file_id)


def as_dict(row: SparkRequest) -> dict:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "file_id": row.file_id,
        "user_id": row.user_id,
        "mode": row.mode,
        "model": row.model,
        "instruction": row.instruction,
        "status": row.status,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "ttft_ms": row.ttft_ms,
        "tokens": row.tokens,
        "tokens_per_second": row.tokens_per_second,
        "overhead_ms": row.overhead_ms,
        "overhead_max_ms": row.overhead_max_ms,
        "duration_ms": row.duration_ms,
        "retries": row.retries,
        "error": row.error,
        "inserted_text": row.inserted_text,
        "replaced_text": row.replaced_text,
    }
