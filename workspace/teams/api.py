"""Team endpoints: members, invitations and chat history (owners manage; every member reads)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema
from ninja.errors import HttpError

from workspace.projects import guard
from workspace.projects.models import Role
from workspace.teams import services

router = Router(tags=["teams"])
PREFIX = ""


class MemberOut(Schema):
    user_id: int
    username: str
    role: str
    color: str
    joined_at: datetime


class RoleIn(Schema):
    role: str


class InvitationIn(Schema):
    role: str = Role.EDITOR
    days: int | None = None
    max_uses: int = 1


class InvitationOut(Schema):
    id: int
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    max_uses: int
    used: int
    revoked: bool
    usable: bool


class CreatedInvitationOut(InvitationOut):
    url: str


class ChatMessageOut(Schema):
    id: int
    user_id: int
    username: str
    color: str
    text: str
    created_at: str


def _member_id(user_id: int) -> int:
    """A number beyond the id column names no user: looked up as 0, which names none either (SQLite could not
    even bind it), so it is answered exactly as any other user who is not a member."""
    return user_id if 0 < user_id <= guard.MAX_ID else 0


def _team_call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except services.TeamError as exc:
        raise HttpError(400, str(exc)) from exc


@router.get("/workspaces/{workspace_id}/members", response=list[MemberOut])
def list_members(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return services.list_members(workspace_id)


@router.patch("/workspaces/{workspace_id}/members/{user_id}", response=MemberOut)
def change_member_role(request, workspace_id: int, user_id: int, payload: RoleIn):
    guard.api_role(request, workspace_id, Role.OWNER)
    user_id = _member_id(user_id)
    _team_call(services.change_role, workspace_id, user_id, payload.role)
    return next(m for m in services.list_members(workspace_id) if m["user_id"] == user_id)


@router.delete("/workspaces/{workspace_id}/members/{user_id}")
def remove_member(request, workspace_id: int, user_id: int):
    guard.api_role(request, workspace_id, Role.OWNER)
    _team_call(services.remove_member, workspace_id, _member_id(user_id))
    return {"removed": user_id}


@router.get("/workspaces/{workspace_id}/invitations", response=list[InvitationOut])
def list_invitations(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.OWNER)
    return services.list_invitations(workspace_id)


@router.post("/workspaces/{workspace_id}/invitations", response=CreatedInvitationOut)
def create_invitation(request, workspace_id: int, payload: InvitationIn):
    """Create a join link. The URL (with its secret token) is returned only here."""
    guard.api_role(request, workspace_id, Role.OWNER)
    created = _team_call(
        services.create_invitation,
        workspace_id,
        request.user,
        payload.role,
        days=payload.days,
        max_uses=payload.max_uses,
    )
    url = request.build_absolute_uri(f"/teams/invite/{created.token}/")
    return {**services.invitation_dict(created.invitation), "url": url}


@router.delete("/workspaces/{workspace_id}/invitations/{invitation_id}")
def revoke_invitation(request, workspace_id: int, invitation_id: int):
    guard.api_role(request, workspace_id, Role.OWNER)
    _team_call(services.revoke_invitation, workspace_id, invitation_id)
    return {"revoked": invitation_id}


@router.get("/workspaces/{workspace_id}/chat", response=list[ChatMessageOut])
def chat_history(request, workspace_id: int, before_id: int | None = None, limit: int = 50):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return services.chat_history(workspace_id, before_id=before_id, limit=limit)
