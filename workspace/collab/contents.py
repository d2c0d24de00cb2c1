"""What checkpoints and deleted files hold: each distinct content stored once, compressed (sync ORM code).

A content row (`CheckpointContent`) is keyed by the SHA-256 of its raw bytes, so a file unchanged between two
checkpoints (or deleted unchanged since the last one) adds no content, only its small manifest row. A live text
document's content is its text in UTF-8; a stored (binary or read-only) file's is its blob's bytes, whose
SHA-256 the blob already carries: an unchanged stored file is never even read again. Nor is an unchanged text
document: its hash is remembered with the state of its stored log (`ContentMark`), so a checkpoint of a workspace
where few files changed loads only those (it is taken before every Spark Accept, Deep apply, pull and restore).

Stored files' bytes live in `repos` (layer 3), which collab cannot import: repos hands over its readers and its
writer at start-up (`use_stored_files`, called from `repos.apps`). Without them stored files are left out.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef

from workspace.collab import store
from workspace.collab.models import CheckpointContent, CheckpointFile, ContentMark, DeletedFile, DocState, DocUpdate
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import NewFile, create_files_bulk, normalise_path


@dataclass(frozen=True)
class StoredFiles:
    """How to reach stored files' bytes: their SHA-256 by file id, read one, write one (its node exists)."""

    hashes: Callable[[Iterable[int]], dict[int, str]]
    read: Callable[[FileNode], bytes]
    write: Callable[[FileNode, bytes], None]


_stored: StoredFiles | None = None


def use_stored_files(stored: StoredFiles) -> None:
    global _stored
    _stored = stored


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keep(data: bytes, digest: str | None = None) -> str:
    """Store `data` unless a content with its hash is stored already; returns the hash."""
    digest = digest or sha256(data)
    if not CheckpointContent.objects.filter(sha256=digest).exists():
        row = CheckpointContent(sha256=digest, data=zlib.compress(data, 6), size=len(data))
        CheckpointContent.objects.bulk_create([row], ignore_conflicts=True)
    return digest


def read(digest: str) -> bytes:
    return zlib.decompress(bytes(CheckpointContent.objects.values_list("data", flat=True).get(sha256=digest)))


def files_of(workspace_id: int) -> list[FileNode]:
    """The workspace's files a checkpoint holds: live text documents, and stored files when repos is there."""
    kinds = [FileKind.TEXT] + ([FileKind.BINARY, FileKind.READONLY] if _stored else [])
    return list(FileNode.objects.filter(workspace_id=workspace_id, is_folder=False, kind__in=kinds).order_by("path"))


def live_hashes(nodes: list[FileNode]) -> dict[int, str]:
    """The hash of what each file holds now, by file id, storing nothing."""
    stored = [n.id for n in nodes if n.kind != FileKind.TEXT]
    hashes = _stored.hashes(stored) if _stored and stored else {}
    hashes.update(_text_hashes([n for n in nodes if n.kind == FileKind.TEXT], keep_new=False))
    return hashes


def keep_live(nodes: list[FileNode]) -> dict[int, str]:
    """Store what each file holds now (what is stored already is not read again); its hash by file id."""
    kept = _text_hashes([n for n in nodes if n.kind == FileKind.TEXT], keep_new=True)
    stored = [n for n in nodes if n.kind != FileKind.TEXT]
    hashes = _stored.hashes([n.id for n in stored]) if _stored and stored else {}
    present = set(CheckpointContent.objects.filter(sha256__in=hashes.values()).values_list("sha256", flat=True))
    for node in stored:
        if node.id in hashes:
            digest = hashes[node.id]
            kept[node.id] = digest if digest in present else keep(_stored.read(node), digest)
    return kept


def log_marks(file_ids: list[int]) -> dict[int, str]:
    """Each document's stored state, in two queries: any update stored or compacted since changes it. (Counting
    rows, not only the newest id: an update committed late may carry a lower id than one committed before it.)"""
    folded = dict(DocState.objects.filter(file_id__in=file_ids).values_list("file_id", "last_update_id"))
    logs = {
        file_id: (rows, newest)
        for file_id, rows, newest in DocUpdate.objects.filter(file_id__in=file_ids)
        .order_by()
        .values("file_id")
        .annotate(rows=Count("id"), newest=Max("id"))
        .values_list("file_id", "rows", "newest")
    }
    return {i: "{}:{}:{}".format(folded.get(i, 0), *logs.get(i, (0, 0))) for i in file_ids}


def _text_hashes(nodes: list[FileNode], keep_new: bool) -> dict[int, str]:
    """Text documents' content hashes: remembered ones while their log is unchanged, else loaded (and, with
    `keep_new`, stored). The marks are read before the texts, so a remembered hash is never newer than its mark."""
    if not nodes:
        return {}
    ids = [n.id for n in nodes]
    marks = log_marks(ids)
    remembered = {
        file_id: digest
        for file_id, mark, digest in ContentMark.objects.filter(file_id__in=ids).values_list(
            "file_id", "mark", "sha256"
        )
        if marks[file_id] == mark
    }
    if keep_new:  # a remembered content may have been swept since: then it is stored again
        present = set(CheckpointContent.objects.filter(sha256__in=remembered.values()).values_list("sha256", flat=True))
        remembered = {file_id: digest for file_id, digest in remembered.items() if digest in present}
    hashes: dict[int, str] = {}
    fresh: list[ContentMark] = []
    for node in nodes:
        digest = remembered.get(node.id)
        if digest is None:
            data = store.load_text(node.id).encode("utf-8")
            digest = keep(data) if keep_new else sha256(data)
            fresh.append(ContentMark(file_id=node.id, mark=marks[node.id], sha256=digest))
        hashes[node.id] = digest
    ContentMark.objects.bulk_create(
        fresh, update_conflicts=True, unique_fields=["file"], update_fields=["mark", "sha256"]
    )
    return hashes


def write_stored(workspace_id: int, path: str, kind: str, data: bytes, node: FileNode | None = None) -> FileNode:
    """Put bytes back into a stored file: the existing `node`, or a new one at `path` (FileTreeError if taken)."""
    if _stored is None:
        raise RuntimeError("stored files are not available (the repos app is not installed)")
    with transaction.atomic():
        if node is None:
            _, (node,) = create_files_bulk(workspace_id, [NewFile(normalise_path(path), kind, len(data))])
        else:
            FileNode.objects.filter(id=node.id).update(size=len(data))
        _stored.write(node, data)
    return node


def sweep(digests: Iterable[str]) -> int:
    """Delete those of these contents no checkpoint and no deleted file holds any more; how many went."""
    held_by_checkpoint = CheckpointFile.objects.filter(content_id=OuterRef("sha256"))
    held_by_tombstone = DeletedFile.objects.filter(content_id=OuterRef("sha256"))
    unheld = CheckpointContent.objects.filter(sha256__in=set(digests)).filter(
        ~Exists(held_by_checkpoint), ~Exists(held_by_tombstone)
    )
    return unheld.delete()[0]
