"""Workspace, membership and file-tree operations, independent of HTTP or WebSocket edges."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Substr
from django.db.models.lookups import Exact

from workspace.broadcast import broadcast_to_workspace
from workspace.projects.models import FileKind, FileNode, Membership, Role, Workspace

MAX_PATH_LENGTH = 512  # characters: FileNode.path's column
# Bytes, as file systems count them: a name longer than NAME_MAX (255 on Linux file systems) cannot be written
# to disk, so a job's copy of the workspace could not hold it; the whole path stays far below PATH_MAX (4096)
# even under a long SANDBOX_ROOT.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024


class FileTreeError(ValueError):
    """A file operation that cannot be done, with a message fit for the user."""


def create_workspace(user: AbstractBaseUser, name: str, *, readme: bool = True) -> Workspace:
    """A new workspace owned by `user`; with an empty README.md unless `readme` is False (e.g. to import into)."""
    name = name.strip()
    if not name:
        raise FileTreeError("A workspace needs a name.")
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name[:120], created_by=user)
        Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
        if readme:
            create_file(workspace, "README.md")
    return workspace


def normalise_path(path: str) -> str:
    """Validate a user-supplied path; refuse anything that could escape the workspace."""
    raw = (path or "").strip().replace("\\", "/")
    if not raw:
        raise FileTreeError("The path is empty.")
    if raw.startswith("/") or any(part in ("", ".", "..") for part in raw.strip("/").split("/")):
        raise FileTreeError(f"Invalid path {path!r}: use names separated by '/', without '.' or '..'.")
    clean = posixpath.normpath(raw.strip("/"))
    if any(ch in clean for ch in "\x00\n\r"):
        raise FileTreeError("The path contains control characters.")
    try:
        encoded = clean.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (JSON allows "\ud800"): no file system can name it
        raise FileTreeError("The path is not valid Unicode text.") from exc
    if len(clean) > MAX_PATH_LENGTH or len(encoded) > MAX_PATH_BYTES:
        raise FileTreeError(f"The path is too long: at most {MAX_PATH_LENGTH} characters and {MAX_PATH_BYTES} bytes.")
    longest = max(len(part.encode("utf-8")) for part in clean.split("/"))
    if longest > MAX_NAME_BYTES:
        raise FileTreeError(
            f"A name in the path is too long ({longest} bytes): a file or folder name is at most "
            f"{MAX_NAME_BYTES} bytes (UTF-8)."
        )
    return clean


def nodes_below(workspace_id: int, folder_path: str) -> QuerySet[FileNode]:
    """Every node strictly inside `folder_path`, matched exactly on every database.

    Not `path__startswith`: that is LIKE, which ignores case on SQLite (`src` would take `SRC/x.py` along).
    The compared prefix is a substring of the same length, and `=` is exact on SQLite and PostgreSQL alike.
    """
    prefix = folder_path + "/"
    return FileNode.objects.filter(Exact(Substr("path", 1, len(prefix)), prefix), workspace_id=workspace_id)


def _ensure_parent_folders(workspace: Workspace, path: str) -> None:
    parts = path.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        node, created = FileNode.objects.get_or_create(workspace=workspace, path=folder, defaults={"is_folder": True})
        if not created and not node.is_folder:
            raise FileTreeError(f"{folder!r} is a file, not a folder.")


def create_file(workspace: Workspace, path: str, *, is_folder: bool = False) -> FileNode:
    """Create an empty file (or a folder), with its parent folders. A file with a first text:
    `collab.files.create_file_with_text`."""
    clean = normalise_path(path)
    try:
        with transaction.atomic():
            if FileNode.objects.filter(workspace=workspace, path=clean).exists():
                raise FileTreeError(f"{clean!r} already exists.")
            _ensure_parent_folders(workspace, clean)
            node = FileNode.objects.create(workspace=workspace, path=clean, is_folder=is_folder)
    except IntegrityError as exc:  # created concurrently by someone else
        raise FileTreeError(f"{clean!r} already exists.") from exc
    return node


def rename_file(node: FileNode, new_path: str) -> FileNode:
    """Rename a file, or a folder with everything below it."""
    clean = normalise_path(new_path)
    if clean == node.path:
        return node
    if node.is_folder and clean.startswith(node.path + "/"):
        raise FileTreeError("A folder cannot be moved inside itself.")
    old_path = node.path
    try:
        with transaction.atomic():
            if FileNode.objects.filter(workspace_id=node.workspace_id, path=clean).exists():
                raise FileTreeError(f"{clean!r} already exists.")
            _ensure_parent_folders(node.workspace, clean)
            if node.is_folder:
                old_prefix = old_path + "/"
                for child in nodes_below(node.workspace_id, old_path):
                    # The longer prefix may take a child's path over the limits: refused, nothing moves.
                    child.path = normalise_path(clean + "/" + child.path[len(old_prefix) :])
                    child.save(update_fields=["path", "updated_at"])
            node.path = clean
            node.save(update_fields=["path", "updated_at"])
    except IntegrityError as exc:  # a path taken concurrently by someone else
        node.path = old_path
        raise FileTreeError(f"{clean!r} already exists.") from exc
    return node


@dataclass(frozen=True)
class NewFile:
    """A file to create in bulk: a normalised path, its kind and, for stored files, its size in bytes."""

    path: str
    kind: str = FileKind.TEXT
    size: int | None = None


def existing_paths(workspace_id: int) -> dict[str, bool]:
    """Every path of the workspace, mapped to whether it is a folder."""
    return dict(FileNode.objects.filter(workspace_id=workspace_id).values_list("path", "is_folder"))


def create_files_bulk(
    workspace_id: int, files: Sequence[NewFile], folders: Sequence[str] = ()
) -> tuple[list[FileNode], list[FileNode]]:
    """Create many files, the given `folders` and every missing parent folder with a few multi-row INSERTs (an
    import's batch).

    The paths must come from `normalise_path` and the files' be free; a path taken meanwhile raises IntegrityError
    (run it in a transaction). Returns (folders created, files created), the files in the order given, with ids.
    """
    wanted: dict[str, None] = {}
    for path in [*(p for f in files for p in _parents(f.path)), *(p for f in folders for p in [*_parents(f), f])]:
        wanted[path] = None
    taken = dict(FileNode.objects.filter(workspace_id=workspace_id, path__in=wanted).values_list("path", "is_folder"))
    missing: dict[str, None] = {}
    for folder in wanted:
        if taken.get(folder) is False:
            raise FileTreeError(f"{folder!r} is a file, not a folder.")
        if folder not in taken:
            missing[folder] = None
    created_folders = FileNode.objects.bulk_create(
        [FileNode(workspace_id=workspace_id, path=folder, is_folder=True) for folder in missing]
    )
    created = FileNode.objects.bulk_create(
        [FileNode(workspace_id=workspace_id, path=f.path, kind=f.kind, size=f.size) for f in files]
    )
    return created_folders, created


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]


def delete_file(node: FileNode) -> int:
    """Delete a file, or a folder and everything below it. Returns how many nodes went."""
    with transaction.atomic():
        below = nodes_below(node.workspace_id, node.path)
        # Locked first: an update being stored for a file meanwhile waits for this delete (and then finds the
        # file gone) instead of adding a row between the collection of its rows and the file's own deletion.
        going = FileNode.objects.filter(id=node.id) | (below if node.is_folder else FileNode.objects.none())
        list(going.select_for_update().values_list("id", flat=True))
        count = below.count() + 1 if node.is_folder else 1
        if node.is_folder:
            below.delete()
        node.delete()
    return count


def file_tree(workspace_id: int) -> list[dict]:
    """The tree as the editor shows it: `kind` is text (a live document), binary or readonly (stored bytes, with
    their `size`)."""
    return [
        {
            "id": f.id,
            "path": f.path,
            "name": f.name,
            "is_folder": f.is_folder,
            "language": f.language,
            "kind": f.kind,
            "size": f.size,
        }
        for f in FileNode.objects.filter(workspace_id=workspace_id).order_by("path")
    ]


def notify_tree_changed(workspace_id: int) -> None:
    broadcast_to_workspace(workspace_id, "files.changed", {"files": file_tree(workspace_id)})
