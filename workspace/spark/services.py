"""Spark request records (sync ORM code; async callers wrap these in database_sync_to_async)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from workspace.collab import store
from workspace.projects.models import FileNode
from workspace.spark.models import PENDING_STATUSES, SparkRequest
from workspace.spark.streamer import control_topic

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


@dataclass(frozen=True)
class FileInfo:
    workspace_id: int
    path: str
    language: str


# Requests and completions need a file's workspace (to check it), path and language (for the prompt) on every call;
# they are kept here so that the database is not on the time-to-first-token path. Saving or deleting a file in this
# process forgets it at once (`forget_file`, a signal receiver); other processes see a rename within FILE_INFO_SECONDS.
# A file never changes workspace.
FILE_INFO_SECONDS = 30.0
FILE_INFO_MAX = 4096
_files: OrderedDict[int, tuple[float, FileInfo]] = OrderedDict()


def known_file(file_id: int) -> FileInfo | None:
    cached = _files.get(file_id)
    if cached is None or time.monotonic() - cached[0] > FILE_INFO_SECONDS:
        return None
    return cached[1]


def load_file(file_id: int) -> FileInfo | None:
    node = FileNode.objects.filter(id=file_id, is_folder=False).only("workspace_id", "path").first()
    if node is None:
        return None
    info = _files[file_id] = (time.monotonic(), FileInfo(node.workspace_id, node.path, node.language))
    while len(_files) > FILE_INFO_MAX:
        _files.popitem(last=False)
    return info[1]


def forget_file(file_id: int | None = None, *, instance: FileNode | None = None, **_signal) -> None:
    _files.pop(instance.pk if instance is not None else file_id, None)


def create_request(
    workspace_id: int,
    file_id: int,
    user_id: int,
    mode: str,
    instruction: str,
    model: str,
    base_url: str,
    parent: SparkRequest | None = None,
) -> SparkRequest:
    """Record a request with its session's control topic, in one commit. On PostgreSQL the commit does not wait for
    the WAL flush (the row is a record: a database crash within a moment of it loses the stream anyway). Raises
    SparkError when the file is gone."""
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            row = SparkRequest.objects.create(
                workspace_id=workspace_id,
                file_id=file_id,
                user_id=user_id,
                mode=mode,
                instruction=instruction,
                model=model,
                base_url=base_url,
                status=SparkRequest.Status.STREAMING,
                parent=parent,
                thread_id=parent.thread_id_or_own if parent else None,
            )
            row.session_channel = control_topic(row.id)
            SparkRequest.objects.filter(id=row.id).update(session_channel=row.session_channel)
    except IntegrityError as exc:  # deleted meanwhile
        raise SparkError("no such file in this workspace") from exc
    return row


def update_request(request_id: int, *, finished: bool = False, **fields) -> None:
    if finished:
        fields["finished_at"] = timezone.now()
    SparkRequest.objects.filter(id=request_id).update(**fields)


def get_request(request_id: int, workspace_id: int) -> SparkRequest:
    row = SparkRequest.objects.filter(id=request_id, workspace_id=workspace_id).first()
    if row is None:
        raise SparkError("no such Spark request in this workspace")
    return row


def thread_members(row: SparkRequest) -> list[SparkRequest]:
    """The requests of a region's thread of instructions, first one first."""
    root = row.thread_id_or_own
    return list(SparkRequest.objects.filter(Q(id=root) | Q(thread_id=root)).order_by("id"))


def settle_thread(row: SparkRequest, status: str, *, only_if_pending: bool = True) -> bool:
    """Mark every pending request of the thread accepted or rejected, atomically: False when the head was already
    settled (two processes, or two users, settling at once: only one wins)."""
    with transaction.atomic():
        claimed = SparkRequest.objects.filter(id=row.id, status__in=PENDING_STATUSES).update(
            status=status, session_channel=""
        )
        if not claimed and only_if_pending:
            return False
        root = row.thread_id_or_own
        members = SparkRequest.objects.filter(Q(id=root) | Q(thread_id=root))
        members.filter(status__in=PENDING_STATUSES).update(status=status, session_channel="")
    return True


def holds_text(row: SparkRequest) -> bool:
    """A request whose AI text is (or is about to be) in the document: streaming, or it wrote something."""
    return row.status == SparkRequest.Status.STREAMING or bool(row.inserted_text)


def pending_heads(workspace_id: int) -> list[SparkRequest]:
    """Edits of the workspace whose text awaits Accept / Reject: the last request of each thread (a refinement that
    wrote nothing leaves its parent the head)."""
    rows = [
        row
        for row in SparkRequest.objects.filter(workspace_id=workspace_id, status__in=PENDING_STATUSES)
        .exclude(mode="chat")
        .order_by("id")
        if holds_text(row)
    ]
    refined = {row.parent_id for row in rows if row.parent_id}
    return [row for row in rows if row.id not in refined]


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
        "ttft_share_ms": row.ttft_share_ms,
        "parent_id": row.parent_id,
        "thread_id": row.thread_id_or_own,
        "handover_job_id": row.handover_job_id,
    }
