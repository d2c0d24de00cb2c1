"""Who may open a file's room, and with which role (sync ORM code)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from workspace.collab.tokens import read_token
from workspace.projects.models import FileKind, FileNode, Membership

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_MALFORMED = 4400
# Applications may only close with 1000 or 3000-4999 (autobahn refuses 1009/1003): HTTP-like 4413 and 4415.
CLOSE_TOO_BIG = 4413
CLOSE_UNSUPPORTED = 4415
# The file was deleted (no reconnect).
CLOSE_GONE = 4410
# The file is stored bytes (binary, or text too large to edit live), not a document (no reconnect).
CLOSE_NOT_A_DOCUMENT = 4406
NOT_A_DOCUMENT_REASONS = {
    FileKind.BINARY: "not a text document: a binary file (download or preview it)",
    FileKind.READONLY: "not a live document: a read-only file too large to edit (download it)",
}
# 45xx: reconnect and resync. The room was reset (an update could not be stored, or the room could not load).
CLOSE_RESYNC = 4500
# The client read too slowly: what was queued for it passed COLLAB_CLIENT_QUEUE_BYTES.
CLOSE_TOO_SLOW = 4501


@dataclass(frozen=True)
class RoomAccess:
    user_id: int | None
    username: str
    workspace_id: int | None
    role: str | None
    close_code: int | None = None
    reason: str = ""


def resolve_access(user, file_id: int, token: str | None) -> RoomAccess:
    """Decide whether the connecting user may join the room of `file_id`."""
    if token:
        user_id = read_token(token, file_id)
        if user_id is None:
            return RoomAccess(None, "", None, None, CLOSE_UNAUTHENTICATED, "invalid or expired token")
        user = get_user_model().objects.filter(id=user_id, is_active=True).first()
    if user is None or not user.is_authenticated:
        return RoomAccess(None, "", None, None, CLOSE_UNAUTHENTICATED, "log in or pass ?token=")
    node = FileNode.objects.filter(id=file_id, is_folder=False).only("id", "workspace_id", "kind").first()
    role = None
    if node is not None:
        role = (
            Membership.objects.filter(workspace_id=node.workspace_id, user=user).values_list("role", flat=True).first()
        )
    if role is None:
        # A file of a workspace the user is not in closes exactly as a missing one: its id reveals nothing.
        return RoomAccess(user.id, user.username, None, None, CLOSE_NOT_FOUND, "no such file")
    if node.kind != FileKind.TEXT:  # told to members only, so the kind of another workspace's file stays hidden
        reason = NOT_A_DOCUMENT_REASONS.get(node.kind, "not a text document")
        return RoomAccess(user.id, user.username, None, None, CLOSE_NOT_A_DOCUMENT, reason)
    return RoomAccess(user.id, user.username, node.workspace_id, role)


def current_roles_by_file(user_ids_by_file: Mapping[int, Collection[int]]) -> dict[int, dict[int, str]]:
    """Per file, the roles the given users hold now in the file's workspace; a user left out was removed (or the
    file is gone). Two queries for all the rooms of a process, whatever their number of clients."""
    wanted = {file_id: set(user_ids) for file_id, user_ids in user_ids_by_file.items() if user_ids}
    workspace_of = dict(FileNode.objects.filter(id__in=wanted).values_list("id", "workspace_id"))
    user_ids = set().union(*(wanted[file_id] for file_id in workspace_of))
    memberships = Membership.objects.filter(workspace_id__in=set(workspace_of.values()), user_id__in=user_ids)
    # An empty `__in` runs no query at all (Django knows the result is empty).
    rows = memberships.values_list("workspace_id", "user_id", "role")
    roles = {(workspace_id, user_id): role for workspace_id, user_id, role in rows}
    result: dict[int, dict[int, str]] = {}
    for file_id in user_ids_by_file:
        workspace_id = workspace_of.get(file_id)
        result[file_id] = {
            user_id: roles[(workspace_id, user_id)]
            for user_id in wanted.get(file_id, ())
            if (workspace_id, user_id) in roles
        }
    return result
