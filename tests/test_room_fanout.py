"""A room's fan-out to its local clients: direct sends in the step after a commit, awaited sends kept in order."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Doc, Text, merge_updates

from tests.helpers import RecordingRoomClient as DirectClient
from workspace.collab import protocol
from workspace.collab.rooms import Room

pytestmark = pytest.mark.embedded


class AwaitedClient(DirectClient):
    """A client that can only be sent to by awaiting (e.g. Channels' test communicator), slowly."""

    def try_send_frame(self, frame: bytes) -> bool:
        return False

    async def send_frame(self, frame: bytes) -> None:
        await asyncio.sleep(0.01)
        self.frames.append(frame)


def room_with(*clients: DirectClient) -> Room:
    room = Room(1, Doc())
    room.clients = {client.channel_name: client for client in clients}
    return room


def typed_updates(count: int) -> list[bytes]:
    doc = Doc()
    text = doc.get("content", type=Text)
    updates = []
    for i in range(count):
        before = doc.get_state()
        text.insert(len(text), str(i))
        updates.append(doc.get_update(before))
    return updates


async def test_updates_queued_in_one_step_reach_each_client_as_one_merged_frame_in_the_next_step():
    a, b = DirectClient("a"), DirectClient("b")
    room = room_with(a, b)
    updates = typed_updates(3)
    for update in updates:
        room.deliver_update(update, protocol.sync_update(update), origin="a")
    assert a.frames == b.frames == []  # not from inside the writer's callbacks
    await asyncio.sleep(0)
    assert a.frames == b.frames == [protocol.sync_update(merge_updates(*updates))]


async def test_a_single_update_skips_its_origin():
    a, b = DirectClient("a"), DirectClient("b")
    room = room_with(a, b)
    [update] = typed_updates(1)
    room.deliver_update(update, protocol.sync_update(update), origin="a")
    await asyncio.sleep(0)
    assert a.frames == [] and b.frames == [protocol.sync_update(update)]


async def test_clients_without_a_direct_sender_get_every_frame_in_order_while_others_get_theirs_at_once():
    direct, awaited = DirectClient("direct"), AwaitedClient("awaited")
    room = room_with(direct, awaited)
    updates = typed_updates(4)
    for update in updates:  # one update per step: four separate frames
        room.deliver_update(update, protocol.sync_update(update), origin="origin")
        await asyncio.sleep(0)
    assert direct.frames == [protocol.sync_update(update) for update in updates]
    for _ in range(100):
        if len(awaited.frames) == len(updates):
            break
        await asyncio.sleep(0.01)
    assert awaited.frames == [protocol.sync_update(update) for update in updates]


async def test_process_local_room_alone_in_its_group_publishes_nothing_but_reaches_any_other_member(monkeypatch):
    """Embedded mode: a group message would only come back to the room itself, unless e.g. a Spark stream joined."""
    from channels.layers import InMemoryChannelLayer

    from workspace.collab import rooms

    layer = InMemoryChannelLayer()
    monkeypatch.setattr(rooms, "rooms_layer", lambda: layer)
    room = Room(7, Doc())
    room.channel = await layer.new_channel()
    await layer.group_add(rooms.room_group(7), room.channel)
    room.publish({"type": "ydoc.update", "payload": b"alone", "origin": "a", "msg_id": "m1"})
    assert room._outbox == [] and room._sender is None

    listener = await layer.new_channel()
    await layer.group_add(rooms.room_group(7), listener)
    room.publish({"type": "ydoc.update", "payload": b"heard", "origin": "a", "msg_id": "m2"})
    received = await asyncio.wait_for(layer.receive(listener), 2)
    assert received["payload"] == b"heard"
    await room._sender


async def test_a_client_whose_send_raises_does_not_stop_the_others(caplog):
    class BrokenClient(DirectClient):
        def try_send_frame(self, frame: bytes) -> bool:
            raise OSError("socket gone")

    broken, healthy = BrokenClient("broken"), DirectClient("healthy")
    room = room_with(broken, healthy)
    [update] = typed_updates(1)
    room.deliver_update(update, protocol.sync_update(update), origin="origin")
    await asyncio.sleep(0)
    assert healthy.frames == [protocol.sync_update(update)]
    assert "could not send to broken" in caplog.text
