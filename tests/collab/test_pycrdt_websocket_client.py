"""pycrdt's stock Provider (the client side of the pycrdt-websocket stack) joins a live room over a real socket."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from pycrdt import Doc

from tests.support.ywebsockets import provider_client, room_url, wait_until
from workspace.collab import store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


async def test_two_pycrdt_providers_converge_through_live_server_and_persist_edits(
    live_server_url, workspace_with_file, user
):
    _, node = workspace_with_file
    url = room_url(live_server_url, node.id, user.id)
    async with provider_client(url) as first, provider_client(url) as second:
        assert str(first) == str(second) == "print('hi')\n"
        # Concurrent edits at both ends before either sees the other's.
        first.insert(0, "# first\n")
        second.insert(len(second), "# second\n")
        expected = "# first\nprint('hi')\n# second\n"
        await wait_until(lambda: str(first) == str(second) == expected)
    # Each side saw the other's edit only after the server stored it.
    assert await database_sync_to_async(store.load_text)(node.id) == expected


async def test_pycrdt_provider_brings_offline_edits_back_on_reconnect(live_server_url, workspace_with_file, user):
    _, node = workspace_with_file
    url = room_url(live_server_url, node.id, user.id)
    replica = Doc()
    async with provider_client(url, replica) as text:
        text.insert(0, "online\n")
    text.insert(len(text), "offline\n")
    async with provider_client(url) as other:
        other.insert(0, "meanwhile\n")
        async with provider_client(url, replica) as back:
            await wait_until(lambda: str(back) == str(other) and "offline" in str(other) and "meanwhile" in str(back))
    assert await database_sync_to_async(store.load_text)(node.id) == str(back)
