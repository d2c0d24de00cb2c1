"""Who may open a file's room, and with which role (sync ORM code)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from workspace.collab.tokens import read_token
from workspace.projects.models import FileNode, Membership

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_MALFORMED = 4400
# Applications may only close with 1000 or 3000-4999 (autobahn refuses 1009/1003): HTTP-like 4413 and 4415.
CLOSE_TOO_BIG = 4413
CLOSE_UNSUPPORTED = 4415


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
    node = FileNode.objects.filter(id=file_id, is_folder=False).only("id", "workspace_id").first()
    if node is None:
        return RoomAccess(user.id, user.username, None, None, CLOSE_NOT_FOUND, "no such file")
    role = Membership.objects.filter(workspace_id=node.workspace_id, user=user).values_list("role", flat=True).first()
    if role is None:
        return RoomAccess(user.id, user.username, node.workspace_id, None, CLOSE_FORBIDDEN, "not a member")
    return RoomAccess(user.id, user.username, node.workspace_id, role)


def current_roles(user_ids: Collection[int], file_id: int) -> dict[int, str]:
    """The roles the given users hold now in the workspace of a file; a user left out was removed (or the file is
    gone). One query for a whole room, whatever its number of clients."""
    workspace_id = FileNode.objects.filter(id=file_id).values_list("workspace_id", flat=True).first()
    if workspace_id is None or not user_ids:
        return {}
    memberships = Membership.objects.filter(workspace_id=workspace_id, user_id__in=set(user_ids))
    return dict(memberships.values_list("user_id", "role"))
