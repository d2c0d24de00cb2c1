"""Fixtures of the security tests: a logged-in owner of a workspace with everything the API can name."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.support.helpers import login_session_key, make_member
from tests.support.history_data import make_job, make_spark
from workspace.collab.files import create_file_with_text
from workspace.jobs.changeset import unified_diff
from workspace.projects.services import create_file, create_workspace
from workspace.teams import services as teams


@dataclass
class OwnerSession:
    cookies: dict[str, str]
    headers: dict[str, str]
    ids: dict[str, list[int]]


@pytest.fixture
def in_test_transaction(db):
    """Requests run in the test's transaction, as with Django's test client: the WSGI handler must not close the
    connection at the start or end of a request (which it does to a connection inside an atomic block)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_session(in_test_transaction) -> OwnerSession:
    # Without passwords: hashing four of them would be most of the setup time of every operation's test.
    alice, bob, carol, eve = (get_user_model().objects.create_user(name) for name in ("alice", "bob", "carol", "eve"))
    workspace = create_workspace(alice, "Demo")
    make_member(workspace, bob, "editor")
    make_member(workspace, carol, "viewer")
    files = [
        create_file_with_text(workspace, "src/main.py", "print('hi')\n"),
        create_file_with_text(workspace, "src/util.py", "def add(a, b):\n    return a + b\n"),
        create_file(workspace, "docs", is_folder=True),
        create_file_with_text(workspace, "notes.md", "# Demo\n"),
    ]
    main = files[0]
    proposed = "print('hello')\n"
    changeset = [
        {
            "path": main.path,
            "file_id": main.id,
            "base": "print('hi')\n",
            "proposed": proposed,
            "diff": unified_diff(main.path, "print('hi')\n", proposed),
            "status": "modified",
            "apply": None,
        }
    ]
    jobs = [
        make_job(workspace, alice, result={"changeset": changeset, "summary": "greets", "output": ""}),
        make_job(workspace, bob, kind="tests", status="failed", error="1 failed"),
        make_job(workspace, alice, status="queued"),
        make_job(workspace, alice, status="running"),
    ]
    sparks = [
        make_spark(workspace, alice, file=main),
        make_spark(workspace, bob, file=main, status="error", error="model call failed"),
    ]
    invitation = teams.create_invitation(workspace.id, alice, "editor").invitation
    chat = [teams.post_chat(workspace.id, user.id, f"hello from {user.username}") for user in (alice, bob)]
    # Another workspace: its ids must be refused, never a 500.
    theirs = create_workspace(eve, "Theirs")
    their_file = create_file_with_text(theirs, "secret.py", "x = 1\n")
    their_job = make_job(theirs, eve)
    their_spark = make_spark(theirs, eve, file=their_file)
    csrf = secrets.token_hex(16)
    return OwnerSession(
        cookies={django_settings.SESSION_COOKIE_NAME: login_session_key(alice), django_settings.CSRF_COOKIE_NAME: csrf},
        headers={"X-CSRFToken": csrf},
        ids={
            "workspace": [workspace.id, theirs.id],
            "file": [node.id for node in files] + [their_file.id],
            "job": [job.id for job in jobs] + [their_job.id],
            "spark": [spark.id for spark in sparks] + [their_spark.id],
            "user": [alice.id, bob.id, carol.id, eve.id],
            "invitation": [invitation.id],
            "chat": [message["id"] for message in chat],
        },
    )
