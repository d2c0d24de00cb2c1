"""Stored files (binary, or text too large to edit live): what a file holds, and how a browser may see it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from workspace.collab import store
from workspace.projects.models import FileKind, FileNode
from workspace.repos.models import Blob

# A preview is shown inline only for these types, recognised by their first bytes (never by the name).
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)
PREVIEW_TEXT_BYTES = 256 * 1024
# Formats that deflate cannot shrink: stored as they are in an export's zip.
COMPRESSED_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"wOF")


class NoPreview(ValueError):
    """The browser cannot be shown this file inline (it can download it)."""


def classify(data: bytes, max_doc_bytes: int) -> tuple[str, str | None]:
    """The kind of a file with these bytes, and its text when it becomes a live document.

    Text is strict UTF-8 without NUL bytes (git's heuristic: NULs mean binary); text over `max_doc_bytes`
    (COLLAB_MAX_DOC_BYTES) is stored read-only.
    """
    if b"\x00" in data:
        return FileKind.BINARY, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FileKind.BINARY, None
    if len(data) > max_doc_bytes:
        return FileKind.READONLY, None
    return FileKind.TEXT, text


def new_blob(node: FileNode, data: bytes) -> Blob:
    return Blob(file=node, data=data, sha256=hashlib.sha256(data).hexdigest())


def is_compressed(data: bytes) -> bool:
    return data.startswith(COMPRESSED_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def image_type(data: bytes) -> str | None:
    for signature, content_type in IMAGE_SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    return None


def stored_bytes(node: FileNode) -> bytes:
    data = Blob.objects.filter(file_id=node.id).values_list("data", flat=True).first()
    return bytes(data) if data is not None else b""


def hashes(file_ids: Iterable[int]) -> dict[int, str]:
    """The SHA-256 of each stored file's bytes, by file id (what checkpoints compare, without reading the bytes)."""
    return dict(Blob.objects.filter(file_id__in=list(file_ids)).values_list("file_id", "sha256"))


def replace(node: FileNode, data: bytes) -> None:
    """Store `data` as the stored file's bytes (a restore)."""
    new_blob(node, data).save()


def content(node: FileNode) -> bytes:
    """What the file holds now: a live document's current text (UTF-8), or the stored bytes."""
    if node.kind == FileKind.TEXT:
        return store.load_text(node.id).encode("utf-8")
    return stored_bytes(node)


def preview(node: FileNode) -> tuple[bytes, str]:
    """(bytes, content type) to show inline: an image, or the beginning of a read-only text file."""
    if node.kind == FileKind.BINARY:
        data = stored_bytes(node)
        content_type = image_type(data)
        if content_type is None:  # SVG is text: a live document, not a blob
            raise NoPreview(f"{node.path} cannot be previewed in the browser: download it")
        return data, content_type
    if node.kind == FileKind.READONLY:
        data = stored_bytes(node)[:PREVIEW_TEXT_BYTES]
        return data.decode("utf-8", "ignore").encode("utf-8"), "text/plain; charset=utf-8"
    raise NoPreview(f"{node.path} is a live document: open it in the editor")
