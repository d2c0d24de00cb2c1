"""The y-websocket consumer: sync, fan-out, persistence, permissions and bad input."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from tests.support.helpers import make_member, make_user
from tests.support.yclient import YClient
from workspace.collab import protocol, store
from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_MALFORMED, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from workspace.collab.models import DocUpdate
from workspace.collab.tokens import issue_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def connected(file_id, user, **kw) -> YClient:
    client = YClient(file_id, user=user, **kw)
    assert await client.connect()
    await client.sync()
    return client


async def test_new_client_receives_persisted_text(workspace_with_file, user):
    _, node = workspace_with_file
    client = await connected(node.id, user)
    assert str(client.text) == "print('hi')\n"
    await client.close()


async def test_an_accepted_document_socket_asks_for_nagles_algorithm_off(workspace_with_file, user, monkeypatch):
    from workspace.collab import consumers

    asked = []
    monkeypatch.setattr(consumers, "send_without_delay", asked.append)
    _, node = workspace_with_file
    client = await connected(node.id, user)
    assert len(asked) == 1 and callable(asked[0])  # the connection's ASGI send (a no-op outside Daphne)
    await client.close()


async def test_edit_is_persisted_and_reaches_other_client(workspace_with_file, user):
    _, node = workspace_with_file
    a = await connected(node.id, user)
    b = await connected(node.id, user)
    await a.insert(0, "# header\n")
    await b.pump_until(lambda: str(b.text).startswith("# header"))
    assert await database_sync_to_async(store.load_text)(node.id) == "# header\nprint('hi')\n"
    await a.close()
    await b.close()


async def test_concurrent_edits_from_two_clients_converge(workspace_with_file, user):
    _, node = workspace_with_file
    a = await connected(node.id, user)
    b = await connected(node.id, user)
    a.text.insert(0, "AAA")
    b.text.insert(len(b.text), "BBB")
    await asyncio.gather(a.flush(), b.flush())
    await a.pump_until(lambda: "BBB" in str(a.text))
    await b.pump_until(lambda: "AAA" in str(b.text))
    assert str(a.text) == str(b.text) == "AAAprint('hi')\nBBB"
    assert await database_sync_to_async(store.load_text)(node.id) == str(a.text)
    await a.close()
    await b.close()


async def test_viewer_updates_are_refused_and_not_applied(workspace_with_file, user):
    workspace, node = workspace_with_file
    viewer = await database_sync_to_async(make_user)("vera")
    await database_sync_to_async(make_member)(workspace, viewer, "viewer")
    watcher = await connected(node.id, user)
    client = await connected(node.id, viewer)
    await client.insert(0, "vandalism")
    await client.pump_until(lambda: client.denied)
    assert "viewers cannot edit" in client.denied[0]
    await watcher.drain()
    assert "vandalism" not in str(watcher.text)
    assert await database_sync_to_async(store.load_text)(node.id) == "print('hi')\n"
    await client.close()
    await watcher.close()


async def test_viewer_still_receives_edits(workspace_with_file, user):
    workspace, node = workspace_with_file
    viewer = await database_sync_to_async(make_user)("vera")
    await database_sync_to_async(make_member)(workspace, viewer, "viewer")
    editor = await connected(node.id, user)
    client = await connected(node.id, viewer)
    await editor.insert(0, "x = 1\n")
    await client.pump_until(lambda: str(client.text).startswith("x = 1"))
    await editor.close()
    await client.close()


async def test_anonymous_connection_is_closed_unauthenticated(workspace_with_file):
    _, node = workspace_with_file
    client = YClient(node.id)
    assert await client.connect()
    with pytest.raises(ConnectionError):
        await client.pump_until(lambda: False, timeout=2)
    assert client.closed_code == CLOSE_UNAUTHENTICATED
    await client.close()


async def test_non_member_is_closed_as_if_the_file_did_not_exist(workspace_with_file):
    _, node = workspace_with_file
    stranger = await database_sync_to_async(make_user)("mallory")
    client = YClient(node.id, user=stranger)
    assert await client.connect()
    with pytest.raises(ConnectionError):
        await client.pump_until(lambda: False, timeout=2)
    assert client.closed_code == CLOSE_NOT_FOUND
    await client.close()


async def test_unknown_file_is_closed_not_found(user):
    client = YClient(999999, user=user)
    assert await client.connect()
    with pytest.raises(ConnectionError):
        await client.pump_until(lambda: False, timeout=2)
    assert client.closed_code == CLOSE_NOT_FOUND
    await client.close()


async def test_signed_token_lets_a_client_join_without_a_session(workspace_with_file, user):
    _, node = workspace_with_file
    client = await connected(node.id, None, token=issue_token(user.id, node.id))
    assert str(client.text) == "print('hi')\n"
    await client.close()


async def test_token_for_another_file_is_refused(workspace_with_file, user):
    workspace, node = workspace_with_file
    from workspace.projects.services import create_file

    other = await database_sync_to_async(create_file)(workspace, "other.py")
    client = YClient(node.id, token=issue_token(user.id, other.id))
    assert await client.connect()
    with pytest.raises(ConnectionError):
        await client.pump_until(lambda: False, timeout=2)
    assert client.closed_code == CLOSE_UNAUTHENTICATED
    await client.close()


@pytest.mark.parametrize(
    "frame",
    [b"\x07", b"\x00\x09\x01\x00", b"\x00\x02\x05\x01\x02", b"\x00\x02\x04\xff\xff\xff\xff", b"\x01\x05\x01"],
    ids=["unknown-type", "unknown-sync-type", "truncated", "garbage-update", "bad-awareness"],
)
async def test_malformed_frame_closes_sender_and_leaves_doc_intact(workspace_with_file, user, frame):
    _, node = workspace_with_file
    bystander = await connected(node.id, user)
    bad = await connected(node.id, user)
    await bad.comm.send_to(bytes_data=frame)
    with pytest.raises(ConnectionError):
        await bad.pump_until(lambda: False, timeout=2)
    assert bad.closed_code == CLOSE_MALFORMED
    await bystander.insert(0, "still fine\n")
    fresh = await connected(node.id, user)
    assert str(fresh.text) == "still fine\nprint('hi')\n"
    assert await database_sync_to_async(store.load_text)(node.id) == "still fine\nprint('hi')\n"
    for c in (bad, bystander, fresh):
        await c.close()


async def test_oversized_frame_is_refused(workspace_with_file, user, settings):
    settings.COLLAB_MAX_FRAME_BYTES = 1024
    _, node = workspace_with_file
    client = await connected(node.id, user)
    client.text.insert(0, "x" * 5000)
    await client.flush()
    with pytest.raises(ConnectionError):
        await client.pump_until(lambda: False, timeout=2)
    assert client.closed_code == 4413
    assert await database_sync_to_async(store.load_text)(node.id) == "print('hi')\n"
    await client.close()


async def test_text_frame_is_refused(workspace_with_file, user):
    _, node = workspace_with_file
    client = await connected(node.id, user)
    await client.comm.send_to(text_data="hello")
    with pytest.raises(ConnectionError):
        await client.pump_until(lambda: False, timeout=2)
    assert client.closed_code == 4415
    await client.close()


async def test_awareness_is_relayed_and_cleared_on_disconnect(workspace_with_file, user):
    _, node = workspace_with_file
    a = await connected(node.id, user)
    b = await connected(node.id, user)
    await a.set_awareness(4242, 1, {"user": {"name": "alice", "color": "#f00"}, "cursor": None})
    await b.pump_until(lambda: 4242 in b.awareness)
    late = await connected(node.id, user)
    await late.pump_until(lambda: 4242 in late.awareness)
    await a.close()
    await b.pump_until(lambda: 4242 not in b.awareness)
    await b.close()
    await late.close()


async def test_reconnect_after_room_unload_keeps_every_edit(workspace_with_file, user):
    _, node = workspace_with_file
    a = await connected(node.id, user)
    await a.insert(0, "one\n")
    await a.close()
    b = await connected(node.id, user)
    assert str(b.text) == "one\nprint('hi')\n"
    await b.close()


async def test_offline_edits_are_merged_on_reconnect(workspace_with_file, user):
    _, node = workspace_with_file
    a = await connected(node.id, user)
    doc_copy = a.doc.get_update()
    await a.close()
    online = await connected(node.id, user)
    await online.insert(0, "online\n")
    # The offline client edited its replica meanwhile, then reconnects with the same state.
    offline = YClient(node.id, user=user)
    offline.doc.apply_update(doc_copy)
    offline._outgoing.clear()
    offline.text.insert(len(offline.text), "offline\n")
    offline._outgoing.clear()
    assert await offline.connect()
    await offline.sync()
    await offline.pump_until(lambda: "online" in str(offline.text))
    await online.pump_until(lambda: "offline" in str(online.text))
    assert str(online.text) == str(offline.text) == "online\nprint('hi')\noffline\n"
    for c in (online, offline):
        await c.close()
    assert await database_sync_to_async(store.load_text)(node.id) == "online\nprint('hi')\noffline\n"


async def test_updates_are_stored_before_fan_out(workspace_with_file, user):
    _, node = workspace_with_file
    a = await connected(node.id, user)
    b = await connected(node.id, user)
    before = await DocUpdate.objects.filter(file_id=node.id).acount()
    await a.insert(0, "z")
    await b.pump_until(lambda: str(b.text).startswith("z"))
    assert await DocUpdate.objects.filter(file_id=node.id).acount() == before + 1
    await a.close()
    await b.close()


def test_protocol_roundtrip_of_sync_and_awareness():
    frame = protocol.sync_update(b"\x01\x02\x03")
    assert protocol.decode(frame) == protocol.Message(protocol.MESSAGE_SYNC, protocol.SYNC_UPDATE, b"\x01\x02\x03")
    entries = [(1, 2, '{"a":1}'), (300, 70000, "null")]
    assert protocol.decode_awareness(protocol.encode_awareness(entries)) == entries


async def test_removed_member_is_closed_and_demoted_editor_stops_writing(workspace_with_file, user, settings):
    settings.COLLAB_ACCESS_RECHECK_SECONDS = 0.2
    workspace, node = workspace_with_file
    demoted_user = await database_sync_to_async(make_user)("dora")
    removed_user = await database_sync_to_async(make_user)("remy")
    demoted = await database_sync_to_async(make_member)(workspace, demoted_user, "editor")
    removed = await database_sync_to_async(make_member)(workspace, removed_user, "editor")
    d = await connected(node.id, demoted_user)
    r = await connected(node.id, removed_user)
    demoted.role = "viewer"
    await demoted.asave()
    await removed.adelete()
    with pytest.raises(ConnectionError):
        await r.pump_until(lambda: False, timeout=3)
    assert r.closed_code == CLOSE_FORBIDDEN
    await asyncio.sleep(0.5)
    await d.insert(0, "sneaky")
    await d.pump_until(lambda: d.denied)
    assert await database_sync_to_async(store.load_text)(node.id) == "print('hi')\n"
    await d.close()
    await r.close()


async def test_access_of_all_rooms_and_clients_is_rechecked_with_one_database_call_per_interval(
    workspace_with_file, user, settings, monkeypatch
):
    from workspace.collab import access, registry
    from workspace.projects.services import create_file

    settings.COLLAB_ACCESS_RECHECK_SECONDS = 0.2
    workspace, node = workspace_with_file
    second = await database_sync_to_async(create_file)(workspace, "src/other.py")
    others = [await database_sync_to_async(make_user)(name) for name in ("ann", "ben")]
    for other in others:
        await database_sync_to_async(make_member)(workspace, other, "editor")
    calls: list[dict[int, set[int]]] = []

    def counting_roles(user_ids_by_file):
        calls.append({file_id: set(user_ids) for file_id, user_ids in user_ids_by_file.items()})
        return access.current_roles_by_file(user_ids_by_file)

    monkeypatch.setattr(registry, "current_roles_by_file", counting_roles)
    clients = [await connected(node.id, someone) for someone in (user, *others)]
    clients.append(await connected(second.id, others[0]))
    await asyncio.sleep(0.5)
    assert 1 <= len(calls) <= 3  # one per interval, not one per room or client and interval
    assert calls[-1] == {node.id: {user.id, *(other.id for other in others)}, second.id: {others[0].id}}
    await clients[0].insert(0, "# still an editor\n")
    await clients[1].pump_until(lambda: "still an editor" in str(clients[1].text))
    for client in clients:
        await client.close()


def test_current_roles_by_file_leaves_out_removed_members_and_missing_files(workspace_with_file, user):
    from workspace.collab.access import current_roles_by_file

    workspace, node = workspace_with_file
    viewer = make_user("vic")
    make_member(workspace, viewer, "viewer")
    outsider = make_user("olga")
    roles = current_roles_by_file({node.id: {user.id, viewer.id, outsider.id}, 999_999: {user.id}, node.id + 1: set()})
    assert roles == {node.id: {user.id: "owner", viewer.id: "viewer"}, 999_999: {}, node.id + 1: {}}
