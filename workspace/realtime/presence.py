"""Presence bookkeeping for the workspace channel (sync ORM code)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from workspace.realtime.models import Presence

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46a0a0", "#f032e6", "#9a6324", "#800000", "#000075"]


def user_color(user_id: int) -> str:
    digest = hashlib.sha1(str(user_id).encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def _cutoff():
    return timezone.now() - timedelta(seconds=settings.PRESENCE_STALE_SECONDS)


def join(channel_name: str, workspace_id: int, user_id: int) -> None:
    # Rows of connections whose process died without a disconnect expire here.
    Presence.objects.filter(seen_at__lt=_cutoff()).delete()
    Presence.objects.update_or_create(
        channel_name=channel_name, defaults={"workspace_id": workspace_id, "user_id": user_id}
    )


def leave(channel_name: str) -> None:
    Presence.objects.filter(channel_name=channel_name).delete()


def set_file(channel_name: str, file_id: int | None) -> None:
    Presence.objects.filter(channel_name=channel_name).update(file_id=file_id, seen_at=timezone.now())


def touch(channel_name: str) -> None:
    Presence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def online(workspace_id: int) -> list[dict]:
    """One entry per user online in the workspace, with the file they last opened."""
    users: dict[int, dict] = {}
    rows = (
        Presence.objects.filter(workspace_id=workspace_id, seen_at__gte=_cutoff())
        .select_related("user")
        .order_by("seen_at")
    )
    for row in rows:
        users[row.user_id] = {
            "user_id": row.user_id,
            "username": row.user.username,
            "color": user_color(row.user_id),
            "file_id": row.file_id,
        }
    return sorted(users.values(), key=lambda u: u["username"])
