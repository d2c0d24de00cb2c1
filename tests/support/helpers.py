"""Plain helpers for tests (no fixtures)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

PASSWORD = "correct-horse-battery"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def login_session_key(user) -> str:
    """A logged-in session for `user`, as the value of the session cookie."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def make_member(workspace, user, role: str):
    from workspace.projects.models import Membership

    return Membership.objects.create(workspace=workspace, user=user, role=role)


class RecordingRoomClient:
    """A room's local client that keeps every frame pushed to it (and how it was ended, if it was)."""

    def __init__(self, name: str, user_id: int | None = None) -> None:
        self.channel_name = name
        self.user_id = user_id
        self.frames: list[bytes] = []
        self.ended: tuple[int, str] | None = None

    def push(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def end(self, code: int, reason: str) -> None:
        self.ended = (code, reason)

    async def apply_role(self, role: str | None) -> None:
        pass
