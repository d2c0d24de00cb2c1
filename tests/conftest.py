"""Shared fixtures: users, workspaces, files, and a live Daphne server for socket and browser tests."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from tests.support.helpers import make_member, make_user  # noqa: F401 - re-exported for tests


def pytest_collection_modifyitems(config, items):
    # The embedded pass (no REDIS_URL) runs only the tests marked `embedded`; redis-marked tests skip there.
    if not settings.REDIS_URL:
        skip = pytest.mark.skip(reason="needs REDIS_URL (production-mode run)")
        for item in items:
            if "redis" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def user(db):
    return make_user("alice")


@pytest.fixture
def other_user(db):
    return make_user("bob")


@pytest.fixture
def workspace_with_file(db, user):
    from workspace.collab.files import create_file_with_text
    from workspace.projects.services import create_workspace

    workspace = create_workspace(user, "Demo")
    node = create_file_with_text(workspace, "src/main.py", "print('hi')\n")
    return workspace, node


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.path.exists(path):
        pytest.fail(f"Chromium not found at {path}; run scripts/ensure_chromium.sh")
    return path


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    """A real Daphne process on the test database (production-mode run only)."""
    from tests.support.live import daphne_server

    if not settings.REDIS_URL:
        pytest.skip("live server tests need PostgreSQL + Redis")
    (settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    with daphne_server() as url:
        yield url


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test runs on its own event loop; a channel layer or bus connection (and the rooms using it) created on
    an earlier test's loop holds locks bound to that loop, so every test starts with new ones (and a new
    update-writer connection)."""
    from channels.layers import channel_layers

    from workspace.bus import reset_bus
    from workspace.collab import registry
    from workspace.collab.writer import writer

    channel_layers.backends.clear()
    reset_bus()
    registry.clear()
    yield
    channel_layers.backends.clear()
    reset_bus()
    registry.clear()
    writer.close_sync()  # its connection to the test database must not outlive the test (DROP DATABASE at the end)


@pytest.fixture(scope="session", autouse=True)
def retry_flush_after_deadlock():
    """Live Daphne/Celery processes may still write (job heartbeats) while a transactional test's
    TRUNCATE runs; PostgreSQL then aborts one side with a deadlock. The flush is atomic, so retry it."""
    import time

    from django.core.management.base import CommandError
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self) -> None:
        for attempt in range(5):
            try:
                return original(self)
            except CommandError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original
