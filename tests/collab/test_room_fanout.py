"""A room's fan-out to its local clients (merged frames in the step after a commit) and each client's outbox
(direct writes, awaited sends kept in order, back-pressure and its bound)."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Doc, Text, merge_updates

from tests.support.helpers import RecordingRoomClient as DirectClient
from workspace.collab import protocol
from workspace.collab.outbox import ClientOutbox
from workspace.collab.room import Room

pytestmark = pytest.mark.embedded


class SlowTransport:
    """A transport that can only be sent to by awaiting (e.g. Channels' test communicator), slowly."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def try_send(self, frame: bytes) -> bool:
        return False

    async def send(self, frame: bytes) -> None:
        await asyncio.sleep(0.01)
        self.frames.append(frame)

    async def writable(self) -> None:
        return None


class PausableTransport:
    """A transport that takes frames at once until it is paused (like Twisted's push-producer signal)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.resumed = asyncio.Event()
        self.resumed.set()

    def try_send(self, frame: bytes) -> bool:
        if not self.resumed.is_set():
            return False
        self.frames.append(frame)
        return True

    async def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def writable(self) -> None:
        await self.resumed.wait()


class OutboxClient(DirectClient):
    def __init__(self, name: str, transport, limit: int = 1 << 20) -> None:
        super().__init__(name)
        self.overflows = 0
        self.outbox = ClientOutbox(transport, limit, self._overflowed)

    def _overflowed(self) -> None:
        self.overflows += 1

    def push(self, frame: bytes) -> None:
        self.outbox.push(frame)


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
    slow = SlowTransport()
    direct, awaited = DirectClient("direct"), OutboxClient("awaited", slow)
    room = room_with(direct, awaited)
    updates = typed_updates(4)
    for update in updates:  # one update per step: four separate frames
        room.deliver_update(update, protocol.sync_update(update), origin="origin")
        await asyncio.sleep(0)
    assert direct.frames == [protocol.sync_update(update) for update in updates]
    await awaited.outbox.flushed()
    assert slow.frames == [protocol.sync_update(update) for update in updates]


async def test_a_paused_transport_gets_its_frames_in_order_once_it_resumes():
    transport = PausableTransport()
    client = OutboxClient("c", transport)
    client.push(b"one")
    transport.resumed.clear()  # the socket's buffer filled up
    client.push(b"two")
    client.push(b"three")
    await asyncio.sleep(0.01)
    assert transport.frames == [b"one"] and client.outbox.queued_bytes == len(b"twothree")
    transport.resumed.set()
    client.push(b"four")  # behind the queued ones, not before them
    await client.outbox.flushed()
    assert transport.frames == [b"one", b"two", b"three", b"four"]
    assert client.outbox.queued_bytes == 0


async def test_a_client_that_stops_reading_is_closed_once_its_queue_passes_the_bound_and_its_queue_is_freed():
    transport = PausableTransport()
    transport.resumed.clear()
    client = OutboxClient("c", transport, limit=1000)
    client.push(b"x" * 5000)  # one frame always fits into an empty queue, however large
    assert client.overflows == 0
    client.push(b"y" * 10)
    assert client.overflows == 1
    assert client.outbox.queued_bytes == 0 and not client.outbox.queue
    client.push(b"z")  # nothing more is queued for a client being closed
    assert not client.outbox.queue and client.overflows == 1


async def test_a_room_alone_on_the_in_memory_bus_publishes_nothing_but_hears_server_side_writers():
    """Embedded mode: one process, so a room's own publishes could only come back to itself."""
    from workspace.bus import InMemoryBus

    bus = InMemoryBus()
    room = Room(7, Doc(), bus=bus)
    await room.peers.join()  # its hello is answered by nobody: one subscriber, itself
    await room.peers._sender
    assert room.peers.alone
    room.peers.publish_update(b"alone", "a", "m1")
    assert room.peers._outbox == []

    listener = DirectClient("listener")
    room.clients[listener.channel_name] = listener
    [update] = typed_updates(1)
    # E.g. the embedded Celery worker thread applying a Deep job's result.
    await asyncio.to_thread(bus.publish_sync, "ydoc.7", {"type": "ydoc.update", "payload": update, "msg_id": "w1"})
    for _ in range(100):
        if listener.frames:
            break
        await asyncio.sleep(0.01)
    assert listener.frames == [protocol.sync_update(update)]
    await room.close()


async def test_a_client_whose_send_raises_does_not_stop_the_others(caplog):
    class BrokenClient(DirectClient):
        def push(self, frame: bytes) -> None:
            raise OSError("socket gone")

    broken, healthy = BrokenClient("broken"), DirectClient("healthy")
    room = room_with(broken, healthy)
    [update] = typed_updates(1)
    room.deliver_update(update, protocol.sync_update(update), origin="origin")
    await asyncio.sleep(0)
    assert healthy.frames == [protocol.sync_update(update)]
    assert "could not send to broken" in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_a_room_whose_last_client_left_stays_warm_then_closes(workspace_with_file, settings, monkeypatch):
    from channels.db import database_sync_to_async

    from workspace.collab import registry, store

    settings.COLLAB_ROOM_LINGER_SECONDS = 0.3
    _, node = workspace_with_file
    loads = []
    load = store.load_updates
    monkeypatch.setattr(store, "load_updates", lambda file_id: loads.append(file_id) or load(file_id))
    first = DirectClient("first")
    room = await registry.acquire(node.id, first)
    assert registry.release(room, first)  # the last one: the room lingers
    again = DirectClient("again")
    assert await registry.acquire(node.id, again) is room and loads == [node.id]  # reopened without a reload
    registry.release(room, again)
    await asyncio.sleep(0.5)
    assert registry.get_loaded(node.id) is None  # gone after the linger
    reopened = await registry.acquire(node.id, DirectClient("later"))
    assert reopened is not room and loads == [node.id, node.id]
    assert await database_sync_to_async(store.load_text)(node.id) == str(reopened.doc.get("content", type=Text))


async def test_a_client_with_nothing_gets_the_one_cached_whole_document_until_it_changes():
    room = room_with()
    room.doc.get("content", type=Text).insert(0, "big file")
    first = room.sync_step2(b"\x00")
    assert room.sync_step2(b"") is first  # the same frame, not a new encoding
    assert protocol.decode(first).payload == room.doc.get_update()
    room.doc.get("content", type=Text).insert(0, "changed ")
    assert room.sync_step2(b"\x00") is not first
    assert protocol.decode(room.sync_step2(b"\x00")).payload == room.doc.get_update()
