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
    """A room's local client whose transport takes every frame at once (like a Daphne connection); keeps them."""

    def __init__(self, name: str) -> None:
        self.channel_name = name
        self.user_id = None
        self.frames: list[bytes] = []

    def try_send_frame(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True

    async def send_frame(self, frame: bytes) -> None:
        raise AssertionError("a client with a direct sender is never sent to through the awaited path")

    async def apply_role(self, role: str | None) -> None:
        pass
