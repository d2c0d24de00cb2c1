"""Export: a workspace (or one folder) as a zip of every file's current content, consistent at one instant.

Every update is stored before it is fanned out, so what the database holds is what some instant of the session
looked like. `take_snapshot` reads the rows of all the files (snapshots and update logs of the live documents,
stored blobs) in one transaction: REPEATABLE READ on PostgreSQL (one MVCC snapshot, writers never wait), one
transaction on SQLite (its single writer waits meanwhile, so only raw rows are read there). Rebuilding the texts
and deflating them (`write_zip`) happens afterwards, outside the transaction and without the database, so the
web process can do it in a thread of its own.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import connection, transaction

from workspace.collab.models import DocState, DocUpdate
from workspace.collab.ydoc import doc_from_updates, doc_text
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import FileTreeError, nodes_below, normalise_path
from workspace.repos.blobs import is_compressed
from workspace.repos.models import Blob

CHUNK_BYTES = 256 * 1024
ROW_CHUNK = 200


class ExportError(ValueError):
    """The export cannot be made (e.g. no such folder); the message is for the user."""


@dataclass
class Snapshot:
    """Raw rows of one instant: per live document its stored snapshot and later updates, per blob its bytes."""

    name: str
    folders: list[str] = field(default_factory=list)
    documents: dict[str, list[bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    taken_at: float = 0.0


@contextmanager
def one_instant():
    """A transaction whose reads all see the same committed state (a caller's own transaction is used as is)."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def take_snapshot(workspace_id: int, folder: str = "", name: str = "workspace") -> Snapshot:
    """The rows of every file of the workspace (or below `folder`) as of one instant."""
    snapshot = Snapshot(name=name)
    with one_instant():
        nodes = FileNode.objects.filter(workspace_id=workspace_id)
        if folder:
            try:
                folder = normalise_path(folder)
            except FileTreeError as exc:
                raise ExportError(str(exc)) from exc
            if not nodes.filter(path=folder, is_folder=True).exists():
                raise ExportError(f"There is no folder {folder!r} in this workspace.")
            nodes = nodes_below(workspace_id, folder)
            snapshot.name = folder.rsplit("/", 1)[-1]
        rows = list(nodes.order_by("path").values_list("id", "path", "is_folder", "kind"))
        paths = {node_id: path for node_id, path, _, _ in rows}
        has_children = {path.rsplit("/", 1)[0] for _, path, _, _ in rows if "/" in path}
        snapshot.folders = [path for _, path, is_folder, _ in rows if is_folder and path not in has_children]
        text_nodes = nodes.filter(is_folder=False, kind=FileKind.TEXT)
        # A document is its snapshot followed by every update with a larger id (collab.store.load_updates).
        parts: dict[int, list[bytes]] = {}
        after: dict[int, int] = {}
        states = DocState.objects.filter(file__in=text_nodes).values_list("file_id", "snapshot", "last_update_id")
        for file_id, data, last_id in states.iterator(chunk_size=ROW_CHUNK):
            parts[file_id] = [bytes(data)] if data else []
            after[file_id] = last_id
        updates = DocUpdate.objects.filter(file__in=text_nodes).order_by("file_id", "id")
        # Chunks through a server-side cursor on PostgreSQL: the driver never buffers the whole result at once.
        for file_id, update_id, data in updates.values_list("file_id", "id", "data").iterator(chunk_size=ROW_CHUNK):
            if update_id > after.get(file_id, 0):
                parts.setdefault(file_id, []).append(bytes(data))
        for node_id, path, is_folder, kind in rows:
            if not is_folder and kind == FileKind.TEXT:
                snapshot.documents[path] = parts.get(node_id, [])
        stored = nodes.filter(is_folder=False).exclude(kind=FileKind.TEXT)
        for file_id, data in Blob.objects.filter(file__in=stored).values_list("file_id", "data").iterator(ROW_CHUNK):
            snapshot.blobs[paths[file_id]] = bytes(data)
        for _, path, is_folder, kind in rows:  # a stored file whose bytes are missing exports empty
            if not is_folder and kind != FileKind.TEXT:
                snapshot.blobs.setdefault(path, b"")
    snapshot.taken_at = time.time()
    return snapshot


@dataclass
class Built:
    handle: BinaryIO
    size: int
    filename: str


def write_zip(snapshot: Snapshot) -> Built:
    """The zip of a snapshot in an anonymous temporary file (already unlinked), ready to be streamed."""
    tmp = Path(settings.REPOS_DATA_DIR) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = tempfile.TemporaryFile(dir=tmp)
    stamp = time.localtime(snapshot.taken_at)[:6]
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for folder in snapshot.folders:
            info = zipfile.ZipInfo(folder + "/", stamp)
            info.external_attr = (0o40755 << 16) | 0x10
            archive.writestr(info, b"")
        entries = [(path, None) for path in snapshot.documents] + [
            (path, data) for path, data in snapshot.blobs.items()
        ]
        for path, data in sorted(entries, key=lambda item: item[0]):
            if data is None:
                data = str(doc_text(doc_from_updates(snapshot.documents[path]))).encode("utf-8")
            info = zipfile.ZipInfo(path, stamp)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED if is_compressed(data) else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    size = handle.tell()
    handle.seek(0)
    return Built(handle, size, f"{snapshot.name}.zip")


async def chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """The file's bytes, read off the event loop."""
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()
