"""Rooms alone on their topic publish nothing; whoever joins later still gets every update.

Each `Process` below is one simulated Daphne process: a RedisBus of its own (its own Redis connections, so Redis
counts it as a subscriber of its own) and one room of the file. The store is a list: an update is appended
("committed") before its room fans it out, as the writer does.
"""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from django.conf import settings
from pycrdt import Doc, Text
from redis import asyncio as aioredis

from tests.support.helpers import RecordingRoomClient
from workspace.bus import RedisBus
from workspace.collab import peers, protocol, store
from workspace.collab.peers import HELLO, new_msg_id
from workspace.collab.room import Room

pytestmark = pytest.mark.redis

FILE_ID = 4242
WAIT_SECONDS = 5.0


class Process:
    def __init__(self, prefix: str, stored: list[bytes], name: str) -> None:
        self.client_name = f"room-test-{uuid4().hex}"
        self.bus = RedisBus(settings.REDIS_URL, prefix, client_name=self.client_name)
        self.stored = stored
        self.room = Room(FILE_ID, Doc(), bus=self.bus)
        self.client = RecordingRoomClient(f"client-{name}")
        self.room.clients[self.client.channel_name] = self.client
        self.publishes = 0
        publish = self.bus.publish

        async def counted_publish(topic: str, message: dict) -> int:
            self.publishes += 1
            return await publish(topic, message)

        self.bus.publish = counted_publish

    def type(self, text: str) -> bytes:
        """A local client's edit: applied, stored, then fanned out (what Room.accept and the writer do)."""
        content = self.room.doc.get("content", type=Text)
        before = self.room.doc.get_state()
        content.insert(len(content), text)
        update = self.room.doc.get_update(before)
        self.stored.append(update)
        self.room.peers.publish_update(update, "local", new_msg_id())
        return update

    def text(self) -> str:
        return str(self.room.doc.get("content", type=Text))

    async def idle(self) -> None:
        """Until this room's queued publishes are done."""
        while self.room.peers._sender is not None and not self.room.peers._sender.done():
            await self.room.peers._sender

    async def close(self) -> None:
        await self.room.close()
        await self.bus.close()


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
    assert a.room.peers.alone
    return a


async def hold_back_hellos(room: Room) -> asyncio.Event:
    """The room handles no hello until the returned event is set (its other messages go on)."""
    may_pass = asyncio.Event()
    handle = room.peers.on_message
    held: list[dict] = []

    def held_back(message: dict) -> None:
        if message.get("type") == HELLO and not may_pass.is_set():
            held.append(message)
            return
        handle(message)

    async def release_when_set() -> None:
        await may_pass.wait()
        for message in held:
            handle(message)

    # The bus calls the handler the room subscribed with: swap it for the holding one.
    await room.peers.bus.subscribe(room.peers.topic, held_back)
    await room.peers.bus.unsubscribe(room.peers.topic, handle)
    asyncio.get_running_loop().create_task(release_when_set())
    return may_pass


@pytest.fixture
async def processes(monkeypatch):
    stored: list[bytes] = []
    monkeypatch.setattr(store, "load_updates", lambda file_id: (list(stored), len(stored)))
    client_ids = iter(range(1, 1000))
    monkeypatch.setattr(store, "next_server_client_id", lambda: next(client_ids))
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
    assert a.room.peers.alone
    sends = a.publishes

    a.type("quiet")
    await asyncio.sleep(0.05)
    assert a.publishes == sends, "an update of a room alone on its topic went to Redis"
    assert a.text() == "quiet"


async def test_a_process_joining_later_gets_an_update_its_peer_did_not_publish_after_the_newcomer_loaded(processes):
    a = await silent_room(processes, "one ")

    # Hold back a's handling of hellos, so that a commits an update after b loaded but before a learns of b.
    hello_may_pass = await hold_back_hellos(a.room)
    b = processes("b")
    await b.room.open()
    assert b.text() == "one "
    a.type("two ")  # not published: a still thinks it is alone
    assert a.room.peers.alone

    hello_may_pass.set()
    await eventually(lambda: b.text() == "one two ", "b gets what a skipped, from a's answer to its hello")
    assert protocol.decode(b.client.frames[-1]).kind == protocol.MESSAGE_SYNC  # b's clients got it as an update

    a.type("three ")
    b.type("four ")
    await eventually(
        lambda: a.text() == b.text() and sorted(a.text().split()) == ["four", "one", "three", "two"],
        "both replicas hold all four edits",
    )
    assert not a.room.peers.alone and not b.room.peers.alone


async def test_a_subscriber_count_from_before_a_hello_does_not_silence_the_room():
    """Redis may count the subscribers before a newcomer subscribed while its hello is handled first."""
    release = asyncio.Event()
    counts = [1]  # Redis' count for the publish in flight: made before the newcomer subscribed
    subscribed = 1

    class SlowBus(RedisBus):
        async def publish(self, topic: str, message: dict) -> int:
            await release.wait()
            return counts.pop(0) if counts else subscribed

    room = Room(FILE_ID, Doc(), bus=SlowBus(settings.REDIS_URL, "unused"))
    room.peers.publish_update(b"", "x", new_msg_id())
    await asyncio.sleep(0)
    subscribed = 2  # the newcomer subscribed, then its hello arrives while that publish is in flight
    room.peers.on_message({"type": HELLO, "origin": "newcomer", "msg_id": new_msg_id()})
    release.set()
    await room.peers._sender  # the stale count, then the answer (the room's state) counted with the newcomer
    assert not room.peers.alone

    subscribed = 1  # the newcomer left: a count from a publish made after the hello is believed
    room.peers.publish_update(b"", "x", new_msg_id())
    await room.peers._sender
    assert room.peers.alone


async def test_a_room_whose_subscription_was_renewed_announces_itself_and_gets_what_it_missed(processes):
    a, b = processes("a"), processes("b")
    await a.room.open()
    await b.room.open()
    await a.idle()
    await b.idle()
    assert not a.room.peers.alone and not b.room.peers.alone

    # b's connections go; a publishes while Redis counts only a, so a falls silent.
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        for entry in await client.client_list():
            if entry["name"] == b.client_name:
                await client.client_kill(entry["addr"])
    finally:
        await client.aclose()
    a.type("while b was away ")
    await a.idle()
    a.type("and after ")

    await eventually(lambda: b.text() == "while b was away and after ", "b catches up after resubscribing")
    await eventually(lambda: not a.room.peers.alone, "a publishes again")
    a.type("live")
    await eventually(lambda: b.text().endswith("live"), "a's next update reaches b")


async def test_a_spark_session_in_another_process_gets_what_a_silent_room_skipped(processes, monkeypatch):
    """The session opens the file's room in its own process (a local client of it), which says hello."""
    from workspace.spark import streamer

    a = await silent_room(processes, "before ")

    hello_may_pass = await hold_back_hellos(a.room)
    session_process = processes("spark")  # its bus stands for the other process's
    monkeypatch.setattr(peers, "get_bus", lambda: session_process.bus)
    session = streamer.SparkSession(request_id=1, file_id=FILE_ID)
    monkeypatch.setattr(streamer, "get_bus", lambda: session_process.bus)
    try:
        assert await session.open() == "before "
        a.type("while the hello waits ")
        assert a.room.peers.alone
        hello_may_pass.set()
        await eventually(lambda: str(session.text) == "before while the hello waits ", "the session gets it")
        a.type("after")
        await eventually(lambda: str(session.text).endswith("after"), "the room publishes again")
    finally:
        await session.close()
