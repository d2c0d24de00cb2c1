"""`python -m workspace.serve`: Daphne started with WebSocket limits that follow the collab settings."""

from __future__ import annotations

import pytest
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.ywebsockets import room_url
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
