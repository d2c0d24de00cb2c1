"""`python -m workspace.serve`: Daphne started with WebSocket limits that follow the collab settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.ywebsockets import room_url
from workspace.collab import protocol
from workspace.collab.access import CLOSE_TOO_BIG
from workspace.serve import APPLICATION, PROTOCOL_HEADROOM_BYTES, daphne_arguments


@pytest.mark.embedded
def test_daphne_limits_follow_the_largest_document_and_the_application_is_added():
    arguments = daphne_arguments(["-b", "127.0.0.1", "-p", "8123"])
    limit = str(settings.COLLAB_MAX_DOC_BYTES + PROTOCOL_HEADROOM_BYTES)
    assert arguments[:4] == ["--websocket-max-message-size", limit, "--websocket-max-frame-size", limit]
    assert arguments[4:] == ["-b", "127.0.0.1", "-p", "8123", APPLICATION]


@pytest.mark.embedded
def test_an_application_given_on_the_command_line_is_not_added_twice():
    assert daphne_arguments(["other.asgi:application"])[-1] == "other.asgi:application"
    assert APPLICATION not in daphne_arguments(["other.asgi:application"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_frame_between_daphnes_default_and_the_collab_limit_gets_the_apps_too_big_close(
    live_server_url, workspace_with_file, user
):
    """Over Daphne's 1 MiB default but over COLLAB_MAX_FRAME_BYTES: the app closes with 4413 (not a silent drop)."""
    _, node = workspace_with_file
    payload = b"\x00" * (settings.COLLAB_MAX_FRAME_BYTES + 1024)
    async with connect(room_url(live_server_url, node.id, user.id), max_size=None) as ws:
        await ws.send(protocol.sync_update(payload))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_BIG


@pytest.mark.embedded
def test_startup_heap_is_imported_and_frozen_before_daphne_runs():
    """In a child process (freezing is process-wide): the application is imported, its heap leaves the collector."""
    code = (
        "import gc, sys; from workspace.serve import daphne_arguments, freeze_startup_heap; "
        "freeze_startup_heap(daphne_arguments(['-p', '0'])); "
        "print(gc.get_freeze_count(), 'workspace.asgi' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "workspace.settings"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    frozen, imported = out.stdout.split()
    assert int(frozen) > 10_000 and imported == "True"
