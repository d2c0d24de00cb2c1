"""Rooms alone in their group publish nothing; whoever joins later still gets every update.

Each `Process` below is one simulated Daphne process: a RedisPubSubLayer instance of its own (its own
Redis connections, so Redis counts it as a subscriber of its own) and one room of the file. The store
is a list: an update is appended ("committed") before its room fans it out, as the writer does.
"""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from django.conf import settings
from pycrdt import Doc, Text
from redis import asyncio as aioredis

from tests.helpers import RecordingRoomClient
from workspace.collab import protocol, store
from workspace.collab.rooms import HELLO, Room, new_msg_id, room_group
from workspace.pubsub_layer import RedisPubSubLayer

pytestmark = pytest.mark.redis

FILE_ID = 4242
WAIT_SECONDS = 5.0


class Process:
    def __init__(self, prefix: str, stored: list[bytes], name: str) -> None:
        self.layer = RedisPubSubLayer(hosts=[settings.REDIS_URL], prefix=prefix)
        self.stored = stored
        self.room = Room(FILE_ID, Doc(), layer=self.layer)
        self.client = RecordingRoomClient(f"client-{name}")
        self.room.clients[self.client.channel_name] = self.client
        self.group_sends = 0
        send = self.layer.group_send

        async def counted_group_send(group: str, message: dict) -> int:
            self.group_sends += 1
            return await send(group, message)

        self.layer.group_send = counted_group_send

    def type(self, text: str) -> bytes:
        """A local client's edit: applied, stored, then fanned out (what YjsConsumer and the writer do)."""
        content = self.room.doc.get("content", type=Text)
        before = self.room.doc.get_state()
        content.insert(len(content), text)
        update = self.room.doc.get_update(before)
        self.stored.append(update)
        self.room.publish({"type": "ydoc.update", "payload": update, "origin": "local", "msg_id": new_msg_id()})
        return update

    def text(self) -> str:
        return str(self.room.doc.get("content", type=Text))

    async def idle(self) -> None:
        """Until this room's queued group sends are done."""
        while self.room._sender is not None and not self.room._sender.done():
            await self.room._sender

    async def close(self) -> None:
        await self.room.close()
        await self.layer.flush()


async def eventually(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        assert loop.time() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        await asyncio.sleep(0.01)


async def silent_room(processes, text: str) -> Process:
    """A process whose room is open, has `text` typed, and has stopped publishing (Redis counted only it)."""
    a = processes("a")
    await a.room.open()
    a.type(text)
    await a.idle()
    assert a.room.alone_in_group()
    return a


def hold_back_hellos(room: Room) -> asyncio.Event:
    """The room handles no hello until the returned event is set (its other messages go on)."""
    may_pass = asyncio.Event()
    handle = room.on_group_message

    async def held_back(message: dict) -> None:
        if message.get("type") == HELLO:
            await may_pass.wait()
        await handle(message)

    room.on_group_message = held_back
    return may_pass


@pytest.fixture
async def processes(monkeypatch):
    stored: list[bytes] = []
    monkeypatch.setattr(store, "load_updates", lambda file_id: (list(stored), len(stored)))
    prefix = f"test-{uuid4().hex}"
    started: list[Process] = []

    def start(name: str) -> Process:
        process = Process(prefix, stored, name)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            await process.close()


async def test_a_room_alone_on_redis_stops_publishing_once_redis_counts_no_other_process(processes):
    a = processes("a")
    await a.room.open()
    await a.idle()  # the hello's reply: one subscriber, this process
    assert a.room.alone_in_group()
    sends = a.group_sends

    a.type("quiet")
    await asyncio.sleep(0.05)
    assert a.group_sends == sends, "an update of a room alone in its group went to Redis"
    assert a.text() == "quiet"


async def test_a_process_joining_later_gets_an_update_its_peer_did_not_publish_after_the_newcomer_loaded(processes):
    a = await silent_room(processes, "one ")

    # Hold back a's handling of hellos, so that a commits an update after b loaded but before a learns of b.
    hello_may_pass = hold_back_hellos(a.room)
    b = processes("b")
    await b.room.open()
    assert b.text() == "one "
    a.type("two ")  # not published: a still thinks it is alone
    assert a.room.alone_in_group()

    hello_may_pass.set()
    await eventually(lambda: b.text() == "one two ", "b gets what a skipped, from a's answer to its hello")
    assert protocol.decode(b.client.frames[-1]).kind == protocol.MESSAGE_SYNC  # b's clients got it as an update

    a.type("three ")
    b.type("four ")
    await eventually(
        lambda: a.text() == b.text() and sorted(a.text().split()) == ["four", "one", "three", "two"],
        "both replicas hold all four edits",
    )
    assert not a.room.alone_in_group() and not b.room.alone_in_group()


async def test_a_member_in_the_same_process_keeps_the_room_publishing(processes):
    """E.g. a Spark stream: it shares the process's subscription, so Redis' count does not show it."""
    a = processes("a")
    await a.room.open()
    await a.idle()
    assert a.room.alone_in_group()

    listener = await a.layer.new_channel()
    await a.layer.group_add(room_group(FILE_ID), listener)
    assert not a.room.alone_in_group()
    update = a.type("heard")
    while (message := await asyncio.wait_for(a.layer.receive(listener), WAIT_SECONDS))["type"] != "ydoc.update":
        pass
    assert message["payload"] == update


async def test_a_subscriber_count_from_before_a_hello_does_not_silence_the_room():
    """Redis may count the subscribers before a newcomer subscribed while its hello is handled first."""
    release = asyncio.Event()
    counts = [1]  # Redis' count for the send in flight: made before the newcomer subscribed

    class SlowLayer(RedisPubSubLayer):
        async def group_send(self, group: str, message: dict) -> int:
            await release.wait()
            return counts.pop(0) if counts else subscribed

        def local_members(self, group: str) -> set[str]:
            return {"room"}

    room = Room(FILE_ID, Doc(), layer=SlowLayer(hosts=[settings.REDIS_URL]))
    room.channel = "room"
    room.publish({"type": "ydoc.update", "payload": b"", "origin": "x", "msg_id": new_msg_id()})
    await asyncio.sleep(0)
    subscribed = 2  # the newcomer subscribed, then its hello arrives while that send is in flight
    await room.on_group_message({"type": HELLO, "origin": "newcomer", "msg_id": new_msg_id()})
    release.set()
    await room._sender  # the stale count, then the answer (the room's state) counted with the newcomer
    assert not room.alone_in_group()

    subscribed = 1  # the newcomer left: a count from a send made after the hello is believed
    room.publish({"type": "ydoc.update", "payload": b"", "origin": "x", "msg_id": new_msg_id()})
    await room._sender
    assert room.alone_in_group()


async def test_a_room_whose_subscription_was_renewed_announces_itself_and_gets_what_it_missed(processes):
    a, b = processes("a"), processes("b")
    await a.room.open()
    await b.room.open()
    await a.idle()
    await b.idle()
    assert not a.room.alone_in_group() and not b.room.alone_in_group()

    # b's subscriber connection goes; a publishes while Redis counts only a, so a falls silent.
    host, port = b.layer._connection().pubsub.connection._writer.get_extra_info("sockname")[:2]
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        assert await client.client_kill_filter(addr=f"{host}:{port}") == 1
    finally:
        await client.aclose()
    a.type("while b was away ")
    await a.idle()
    a.type("and after ")

    await eventually(lambda: b.text() == "while b was away and after ", "b catches up after resubscribing")
    await eventually(lambda: not a.room.alone_in_group(), "a publishes again")
    a.type("live")
    await eventually(lambda: b.text().endswith("live"), "a's next update reaches b")


async def test_a_spark_session_of_another_process_gets_what_a_silent_room_skipped(processes, monkeypatch):
    from workspace.collab import publish
    from workspace.spark import streamer

    a = await silent_room(processes, "before ")

    hello_may_pass = hold_back_hellos(a.room)
    session_process = processes("spark")  # its layer stands for the other process's
    for module in (streamer, publish):
        monkeypatch.setattr(module, "rooms_layer", lambda: session_process.layer)
    session = streamer.SparkSession(request_id=1, file_id=FILE_ID)
    try:
        assert await session.open() == "before "
        a.type("while the hello waits ")
        assert a.room.alone_in_group()
        hello_may_pass.set()
        await eventually(lambda: str(session.text) == "before while the hello waits ", "the session gets it")
        a.type("after")
        await eventually(lambda: str(session.text).endswith("after"), "the room publishes again")
    finally:
        await session.close()


async def test_a_message_from_the_only_other_local_member_is_not_published_back_to_it(processes):
    """A Spark stream's own updates: in a process alone with its room, the copy would reach nobody else."""
    a = processes("a")
    await a.room.open()
    await a.idle()
    stream = await a.layer.new_channel()
    await a.layer.group_add(room_group(FILE_ID), stream)
    sends = a.group_sends

    a.room.publish({"type": "ydoc.update", "payload": b"", "origin": "spark:1", "msg_id": new_msg_id()}, stream)
    await asyncio.sleep(0.05)
    assert a.group_sends == sends

    listener = await a.layer.new_channel()
    await a.layer.group_add(room_group(FILE_ID), listener)
    a.room.publish({"type": "ydoc.update", "payload": b"x", "origin": "spark:1", "msg_id": new_msg_id()}, stream)
    while (message := await asyncio.wait_for(a.layer.receive(listener), WAIT_SECONDS))["type"] != "ydoc.update":
        pass
    assert message["payload"] == b"x"
