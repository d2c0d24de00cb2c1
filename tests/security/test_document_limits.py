"""Bad input on document sockets: oversized documents, forged or oversized awareness."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from tests.support.helpers import make_member, make_user
from tests.support.yclient import YClient
from workspace.collab import protocol, store
from workspace.collab.access import CLOSE_TOO_BIG
from workspace.realtime.presence import user_color

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def connected(file_id: int, user) -> YClient:
    client = YClient(file_id, user=user)
    assert await client.connect()
    await client.sync()
    return client


async def test_an_update_taking_the_document_over_its_limit_is_refused_and_nothing_of_it_is_stored(
    workspace_with_file, user, settings
):
    settings.COLLAB_MAX_DOC_BYTES = 50_000
    _, node = workspace_with_file
    writer, watcher = await connected(node.id, user), await connected(node.id, user)
    await writer.insert(0, "a" * 20_000)
    await watcher.pump_until(lambda: len(str(watcher.text)) > 20_000)

    writer.text.insert(0, "b" * 40_000)  # would take the document to about 60 kB
    await writer.flush()
    await writer.pump_until(lambda: writer.closed_code is not None)

    assert writer.closed_code == CLOSE_TOO_BIG
    assert any("limit" in reason for reason in writer.denied)
    text = await database_sync_to_async(store.load_text)(node.id)
    assert "b" not in text and text.startswith("a" * 20_000)
    await watcher.drain()
    assert "b" not in str(watcher.text) and watcher.closed_code is None  # the others are not affected
    late = await connected(node.id, user)
    assert str(late.text) == text
    for client in (writer, watcher, late):
        await client.close()


async def test_a_viewer_cannot_relay_thousands_of_fake_presences(workspace_with_file, user, settings):
    workspace, node = workspace_with_file
    viewer = await database_sync_to_async(make_user)("mallory")
    await database_sync_to_async(make_member)(workspace, viewer, "viewer")
    watcher, attacker = await connected(node.id, user), await connected(node.id, viewer)
    fakes = [(1000 + i, 1, json.dumps({"user": {"name": f"ghost{i}"}})) for i in range(3000)]
    await attacker.comm.send_to(bytes_data=protocol.awareness(protocol.encode_awareness(fakes)))
    await watcher.drain()
    assert len(watcher.awareness) == settings.COLLAB_MAX_AWARENESS_IDS
    late = await connected(node.id, user)
    assert len(late.awareness) == settings.COLLAB_MAX_AWARENESS_IDS
    for client in (watcher, attacker, late):
        await client.close()


async def test_a_connection_cannot_remove_or_take_over_another_connections_cursor(workspace_with_file, user, settings):
    settings.COLLAB_ROOM_LINGER_SECONDS = 0
    workspace, node = workspace_with_file
    mallory = await database_sync_to_async(make_user)("mallory")
    await database_sync_to_async(make_member)(workspace, mallory, "editor")
    alice, watcher, attacker = [await connected(node.id, u) for u in (user, user, mallory)]
    await alice.set_awareness(111, 1, {"cursor": 5})
    await watcher.pump_until(lambda: 111 in watcher.awareness)

    await attacker.set_awareness(111, 2, None)  # "clock + 1, null" for someone else's id
    await attacker.comm.send_to(bytes_data=protocol.awareness(protocol.encode_awareness([(111, 3, "null")])))
    await attacker.set_awareness(111, 4, {"cursor": 0, "user": {"name": "alice"}})
    await attacker.pump_until(lambda: attacker.denied)
    await watcher.drain()

    assert json.loads(watcher.awareness[111]) == {"cursor": 5, "user": alice_user(user)}
    for client in (alice, watcher, attacker):
        await client.close()
    await watcher_gone(node.id)


async def test_the_name_and_colour_shown_come_from_the_server_not_from_the_client(workspace_with_file, user):
    _, node = workspace_with_file
    alice, watcher = await connected(node.id, user), await connected(node.id, user)
    await alice.set_awareness(222, 1, {"user": {"name": "The Admin", "color": "#000", "id": 1}, "cursor": 1})
    await watcher.pump_until(lambda: 222 in watcher.awareness)
    assert json.loads(watcher.awareness[222]) == {"user": alice_user(user), "cursor": 1}
    for client in (alice, watcher):
        await client.close()


async def test_invalid_or_oversized_awareness_states_are_refused_and_never_reach_joiners(
    workspace_with_file, user, settings
):
    _, node = workspace_with_file
    sender, watcher = await connected(node.id, user), await connected(node.id, user)
    bad = [
        (301, 1, "{not json"),
        (302, 1, "[1, 2, 3]"),
        (303, 1, json.dumps({"blob": "x" * (settings.COLLAB_MAX_AWARENESS_BYTES + 1)})),
        (304, 1, "[" * 30000),
    ]
    for entry in bad:
        await sender.comm.send_to(bytes_data=protocol.awareness(protocol.encode_awareness([entry])))
    await sender.pump_until(lambda: len(sender.denied) == len(bad))
    assert sender.closed_code is None  # refused with a reason; the connection stays
    late = await connected(node.id, user)
    await watcher.drain()
    assert watcher.awareness == {} and late.awareness == {}
    for client in (sender, watcher, late):
        await client.close()


async def test_a_closed_connections_cursors_leave_for_everyone(workspace_with_file, user):
    _, node = workspace_with_file
    leaving, watcher = await connected(node.id, user), await connected(node.id, user)
    await leaving.set_awareness(401, 1, {"cursor": 1})
    await watcher.pump_until(lambda: 401 in watcher.awareness)
    await leaving.close()
    await watcher.pump_until(lambda: 401 not in watcher.awareness)
    await watcher.close()


def alice_user(user) -> dict:
    return {"name": user.username, "color": user_color(user.id), "id": user.id}


async def watcher_gone(file_id: int) -> None:
    from workspace.collab import registry

    assert registry.get_loaded(file_id) is None
