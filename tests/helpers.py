"""Plain helpers for tests (no fixtures)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

PASSWORD = "correct-horse-battery"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def make_member(workspace, user, role: str):
    from workspace.projects.models import Membership

    return Membership.objects.create(workspace=workspace, user=user, role=role)
