"""Workspace, membership and file-tree operations, independent of HTTP or WebSocket edges."""

from __future__ import annotations

import posixpath

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from workspace.projects.models import FileNode, Membership, Role, Workspace, role_at_least

MAX_PATH_LENGTH = 512


class FileTreeError(ValueError):
    """A file operation that cannot be done, with a message fit for the user."""


class PermissionDenied(PermissionError):
    """The user lacks the role needed for the action."""


def role_of(user: AbstractBaseUser | None, workspace_id: int) -> str | None:
    """The user's role in the workspace, or None when not a member (or anonymous)."""
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(workspace_id=workspace_id, user=user).values_list("role", flat=True).first()


def require_role(user: AbstractBaseUser | None, workspace_id: int, minimum: str) -> str:
    role = role_of(user, workspace_id)
    if not role_at_least(role, minimum):
        raise PermissionDenied(f"needs the {minimum} role in this workspace")
    return role


def create_workspace(user: AbstractBaseUser, name: str) -> Workspace:
    name = name.strip()
    if not name:
        raise FileTreeError("A workspace needs a name.")
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name[:120], created_by=user)
        Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
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
    if len(clean) > MAX_PATH_LENGTH:
        raise FileTreeError("The path is too long.")
    if any(ch in clean for ch in "\x00\n\r"):
        raise FileTreeError("The path contains control characters.")
    return clean


def _ensure_parent_folders(workspace: Workspace, path: str) -> None:
    parts = path.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        node, created = FileNode.objects.get_or_create(workspace=workspace, path=folder, defaults={"is_folder": True})
        if not created and not node.is_folder:
            raise FileTreeError(f"{folder!r} is a file, not a folder.")


def create_file(workspace: Workspace, path: str, *, is_folder: bool = False, content: str = "") -> FileNode:
    clean = normalise_path(path)
    with transaction.atomic():
        if FileNode.objects.filter(workspace=workspace, path=clean).exists():
            raise FileTreeError(f"{clean!r} already exists.")
        _ensure_parent_folders(workspace, clean)
        node = FileNode.objects.create(workspace=workspace, path=clean, is_folder=is_folder)
        if content and not is_folder:
            from workspace.collab.store import replace_text

            replace_text(node.id, content)
    return node


def rename_file(node: FileNode, new_path: str) -> FileNode:
    """Rename a file, or a folder with everything below it."""
    clean = normalise_path(new_path)
    if clean == node.path:
        return node
    if node.is_folder and clean.startswith(node.path + "/"):
        raise FileTreeError("A folder cannot be moved inside itself.")
    with transaction.atomic():
        if FileNode.objects.filter(workspace_id=node.workspace_id, path=clean).exists():
            raise FileTreeError(f"{clean!r} already exists.")
        _ensure_parent_folders(node.workspace, clean)
        if node.is_folder:
            old_prefix = node.path + "/"
            for child in FileNode.objects.filter(workspace_id=node.workspace_id, path__startswith=old_prefix):
                child.path = clean + "/" + child.path[len(old_prefix) :]
                child.save(update_fields=["path", "updated_at"])
        node.path = clean
        node.save(update_fields=["path", "updated_at"])
    return node


def delete_file(node: FileNode) -> int:
    """Delete a file, or a folder and everything below it. Returns how many nodes went."""
    with transaction.atomic():
        below = FileNode.objects.filter(workspace_id=node.workspace_id, path__startswith=node.path + "/")
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
    return [
        {"id": f.id, "path": f.path, "name": f.name, "is_folder": f.is_folder, "language": f.language}
        for f in FileNode.objects.filter(workspace_id=workspace_id).order_by("path")
    ]


def notify_tree_changed(workspace_id: int) -> None:
    from workspace.realtime.broadcast import broadcast_to_workspace

    broadcast_to_workspace(workspace_id, "files.changed", {"files": file_tree(workspace_id)})
