"""Team operations: invitations, membership changes and chat (sync ORM code, no HTTP or sockets)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from workspace.broadcast import broadcast_to_workspace, workspace_group
from workspace.projects.models import Membership, Role
from workspace.realtime.models import Presence
from workspace.realtime.presence import user_color
from workspace.teams.models import ChatMessage, Invitation

MAX_CHAT_LENGTH = 4000
MAX_INVITE_DAYS = 90
MAX_INVITE_USES = 1000


class TeamError(ValueError):
    """A team operation that cannot be done, with a message fit for the user."""


class InvitationInvalid(TeamError):
    """The link is unknown, expired, revoked or used up."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    token: str


def create_invitation(
    workspace_id: int, creator: AbstractBaseUser, role: str, *, days: int | None = None, max_uses: int = 1
) -> CreatedInvitation:
    if role not in Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    days = settings.INVITE_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_INVITE_DAYS:
        raise TeamError(f"An invitation lasts between 1 and {MAX_INVITE_DAYS} days.")
    if not 1 <= max_uses <= MAX_INVITE_USES:
        raise TeamError(f"An invitation can be used between 1 and {MAX_INVITE_USES} times.")
    token = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        workspace_id=workspace_id,
        token_hash=hash_token(token),
        role=role,
        created_by=creator,
        expires_at=timezone.now() + timedelta(days=days),
        max_uses=max_uses,
    )
    return CreatedInvitation(invitation, token)


def find_invitation(token: str) -> Invitation:
    """The usable invitation for a token, or InvitationInvalid."""
    invitation = (
        Invitation.objects.select_related("workspace", "created_by").filter(token_hash=hash_token(token or "")).first()
    )
    if invitation is None:
        raise InvitationInvalid("This invitation link is not valid.")
    if invitation.revoked:
        raise InvitationInvalid("This invitation was revoked.")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("This invitation has expired.")
    if invitation.used >= invitation.max_uses:
        raise InvitationInvalid("This invitation has already been used.")
    return invitation


def accept_invitation(token: str, user: AbstractBaseUser) -> Membership:
    """Join the workspace with the invitation's role. An existing member keeps their role and uses nothing."""
    with transaction.atomic():
        invitation = find_invitation(token)
        invitation = Invitation.objects.select_for_update().get(id=invitation.id)
        existing = Membership.objects.filter(workspace_id=invitation.workspace_id, user=user).first()
        if existing is not None:
            return existing
        if not invitation.is_usable:  # re-checked under the row lock: two users racing for the last use
            raise InvitationInvalid("This invitation has already been used.")
        membership = Membership.objects.create(workspace_id=invitation.workspace_id, user=user, role=invitation.role)
        invitation.used += 1
        invitation.save(update_fields=["used"])
    notify_members_changed(invitation.workspace_id)
    return membership


def revoke_invitation(workspace_id: int, invitation_id: int) -> None:
    updated = Invitation.objects.filter(workspace_id=workspace_id, id=invitation_id).update(revoked=True)
    if not updated:
        raise TeamError("No such invitation in this workspace.")


def invitation_dict(invitation: Invitation) -> dict:
    return {
        "id": invitation.id,
        "role": invitation.role,
        "created_by": invitation.created_by.username,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "max_uses": invitation.max_uses,
        "used": invitation.used,
        "revoked": invitation.revoked,
        "usable": invitation.is_usable,
    }


def list_invitations(workspace_id: int) -> list[dict]:
    rows = Invitation.objects.filter(workspace_id=workspace_id).select_related("created_by")
    return [invitation_dict(i) for i in rows]


def list_members(workspace_id: int) -> list[dict]:
    rows = Membership.objects.filter(workspace_id=workspace_id).select_related("user").order_by("user__username")
    return [
        {
            "user_id": m.user_id,
            "username": m.user.username,
            "role": m.role,
            "color": user_color(m.user_id),
            "joined_at": m.joined_at.isoformat(),
        }
        for m in rows
    ]


def _member(workspace_id: int, user_id: int) -> Membership:
    membership = Membership.objects.select_for_update().filter(workspace_id=workspace_id, user_id=user_id).first()
    if membership is None:
        raise TeamError("That user is not a member of this workspace.")
    return membership


def _ensure_another_owner(workspace_id: int, leaving_user_id: int) -> None:
    owners = Membership.objects.select_for_update().filter(workspace_id=workspace_id, role=Role.OWNER)
    if not owners.exclude(user_id=leaving_user_id).exists():
        raise TeamError("A workspace needs at least one owner.")


def change_role(workspace_id: int, user_id: int, role: str) -> Membership:
    if role not in Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    with transaction.atomic():
        membership = _member(workspace_id, user_id)
        if membership.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(workspace_id, user_id)
        membership.role = role
        membership.save(update_fields=["role"])
    notify_members_changed(workspace_id)
    return membership


def remove_member(workspace_id: int, user_id: int) -> None:
    with transaction.atomic():
        membership = _member(workspace_id, user_id)
        if membership.role == Role.OWNER:
            _ensure_another_owner(workspace_id, user_id)
        membership.delete()
    cut_off_connections(workspace_id, user_id)
    notify_members_changed(workspace_id)


def cut_off_connections(workspace_id: int, user_id: int) -> None:
    """Stop group broadcasts to a removed member's open sockets at once.

    The workspace channel refuses their next message anyway; without this they would keep
    receiving chat and presence events until they sent one.
    """
    layer = get_channel_layer()
    channels = list(
        Presence.objects.filter(workspace_id=workspace_id, user_id=user_id).values_list("channel_name", flat=True)
    )
    if layer is None or not channels:
        return

    async def discard() -> None:
        for channel in channels:
            await layer.group_discard(workspace_group(workspace_id), channel)
            await layer.send(channel, {"type": "workspace.event", "event": "access.revoked", "data": {}})

    async_to_sync(discard)()


def notify_members_changed(workspace_id: int) -> None:
    broadcast_to_workspace(workspace_id, "members.changed", {"members": list_members(workspace_id)})


def chat_dict(message: ChatMessage) -> dict:
    return {
        "id": message.id,
        "user_id": message.user_id,
        "username": message.user.username,
        "color": user_color(message.user_id),
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def post_chat(workspace_id: int, user_id: int, text: str) -> dict:
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise TeamError("A chat message needs some text.")
    if len(text) > MAX_CHAT_LENGTH:
        raise TeamError(f"A chat message is at most {MAX_CHAT_LENGTH} characters.")
    message = ChatMessage.objects.create(workspace_id=workspace_id, user_id=user_id, text=text)
    return chat_dict(ChatMessage.objects.select_related("user").get(id=message.id))


def chat_history(workspace_id: int, *, before_id: int | None = None, limit: int = 50) -> list[dict]:
    """The latest `limit` messages (older than `before_id` if given), oldest first."""
    limit = max(1, min(int(limit), 200))
    rows = ChatMessage.objects.filter(workspace_id=workspace_id).select_related("user")
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    latest = list(rows.order_by("-id")[:limit])
    return [chat_dict(m) for m in reversed(latest)]
