"""The bus between processes: delivery, subscriber counts, subscriptions, batching, loops, threads and recovery."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

import pytest
from django.conf import settings
from redis import asyncio as aioredis

from workspace.bus import RESUBSCRIBED, InMemoryBus, RedisBus, get_bus, reset_bus

WAIT_SECONDS = 5.0


class Inbox:
    """A handler that keeps what it got and can be awaited."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.loops: list[asyncio.AbstractEventLoop] = []
        self._changed = asyncio.Event()

    def __call__(self, message: dict) -> None:
        self.messages.append(message)
        self.loops.append(asyncio.get_running_loop())
        self._changed.set()

    async def until(self, count: int) -> list[dict]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while len(self.messages) < count:
            self._changed.clear()
            remaining = deadline - loop.time()
            assert remaining > 0, f"got {len(self.messages)} of {count} messages"
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return self.messages


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid4().hex}"


@pytest.fixture
async def make_bus(prefix):
    """RedisBus instances sharing one prefix: each has connections of its own, like one Daphne process."""
    created: list[RedisBus] = []

    def make(name: str = "") -> RedisBus:
        bus = RedisBus(settings.REDIS_URL, prefix, client_name=f"bus-test-{uuid4().hex}{name}")
        created.append(bus)
        return bus

    try:
        yield make
    finally:
        for bus in created:
            await bus.close()


@pytest.fixture
async def plain_redis():
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def numsub(client: aioredis.Redis, key: str) -> int:
    [(_, count)] = await client.pubsub_numsub(key)
    return count


MESSAGE = {
    "type": "doc.update",
    "update": bytes(range(256)),
    "text": "héllo wörld ✓ 🎉",
    "empty": b"",
    "n": 2**40,
    "nested": {"items": [1, b"\x00\xff", "zwei", None, True, 1.5]},
}


@pytest.mark.redis
async def test_a_publish_reaches_every_handler_of_every_process_and_counts_the_processes(make_bus):
    a, b = make_bus(), make_bus()
    a1, a2, b1 = Inbox(), Inbox(), Inbox()
    await a.subscribe("room.1", a1)
    await a.subscribe("room.1", a2)
    await b.subscribe("room.1", b1)

    assert await a.publish("room.1", MESSAGE) == 2  # two processes, however many handlers each has
    for inbox in (a1, a2, b1):
        [received] = await inbox.until(1)
        assert received == MESSAGE
        assert type(received["update"]) is bytes and type(received["text"]) is str
        assert type(received["nested"]["items"][1]) is bytes
    assert await b.publish("room.2", {"type": "nobody"}) == 0


@pytest.mark.redis
async def test_unsubscribing_the_last_local_handler_ends_the_redis_subscription(make_bus, plain_redis, prefix):
    a, b = make_bus(), make_bus()
    first, second, elsewhere = Inbox(), Inbox(), Inbox()
    await a.subscribe("room.3", first)
    await a.subscribe("room.3", second)
    await b.subscribe("room.3", elsewhere)
    assert await numsub(plain_redis, f"{prefix}:room.3") == 2

    await a.unsubscribe("room.3", first)
    await b.publish("room.3", {"type": "one"})
    await second.until(1)
    assert first.messages == []
    await a.unsubscribe("room.3", second)
    for _ in range(100):  # UNSUBSCRIBE is written without waiting for Redis' reply
        if await numsub(plain_redis, f"{prefix}:room.3") == 1:
            break
        await asyncio.sleep(0.02)
    assert await numsub(plain_redis, f"{prefix}:room.3") == 1
    assert await b.publish("room.3", {"type": "two"}) == 1


@pytest.mark.redis
async def test_subscribe_returns_once_redis_confirmed_so_the_next_publish_is_never_missed(make_bus):
    a, b = make_bus(), make_bus()
    for round_ in range(20):
        inbox = Inbox()
        topic = f"room.confirm.{round_}"
        # Two local subscriptions of the same topic at once: both wait for the one SUBSCRIBE.
        await asyncio.gather(a.subscribe(topic, inbox), a.subscribe(topic, Inbox()))
        assert await b.publish(topic, {"round": round_}) == 1
        assert (await inbox.until(1)) == [{"round": round_}]


@pytest.mark.redis
async def test_thousands_of_concurrent_publishes_arrive_in_order_in_few_round_trips(make_bus, monkeypatch):
    a, b = make_bus(), make_bus()
    inbox = Inbox()
    await b.subscribe("room.burst", inbox)
    pipelines = 0
    real_pipeline = aioredis.Redis.pipeline

    def counting_pipeline(self, *args, **kwargs):
        nonlocal pipelines
        pipelines += 1
        return real_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(aioredis.Redis, "pipeline", counting_pipeline)
    counts = await asyncio.gather(*(a.publish("room.burst", {"i": i}) for i in range(3000)))
    assert set(counts) == {1}
    assert [m["i"] for m in await inbox.until(3000)] == list(range(3000))
    assert pipelines < 100


@pytest.mark.redis
def test_each_event_loop_has_connections_of_its_own(prefix):
    bus = RedisBus(settings.REDIS_URL, prefix)

    async def round_trip(tag: str) -> dict:
        inbox = Inbox()
        await bus.subscribe("room.loops", inbox)
        await bus.publish("room.loops", {"tag": tag})
        [message] = await inbox.until(1)
        await bus.close()
        return message

    assert asyncio.run(round_trip("first")) == {"tag": "first"}
    assert asyncio.run(round_trip("second")) == {"tag": "second"}


@pytest.mark.redis
async def test_sync_code_in_another_thread_publishes_to_async_subscribers(make_bus):
    bus = make_bus()
    inbox = Inbox()
    await bus.subscribe("room.sync", inbox)
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(bus.publish_sync("room.sync", MESSAGE)))
    thread.start()
    await asyncio.to_thread(thread.join)
    assert counts == [1]
    assert await inbox.until(1) == [MESSAGE]


@pytest.mark.redis
async def test_after_its_connection_is_killed_the_bus_resubscribes_and_tells_the_handlers(make_bus, plain_redis):
    a, b = make_bus("-a"), make_bus("-b")
    inbox = Inbox()
    await a.subscribe("room.renew", inbox)
    await a.publish("room.renew", {"type": "warm-up"})  # a's publishing connection exists too
    await inbox.until(1)
    killed = [entry["addr"] for entry in await plain_redis.client_list() if entry["name"] == a.client_name]
    assert killed
    for addr in killed:
        await plain_redis.client_kill(addr)

    messages = await inbox.until(2)
    assert messages[1] == {"type": RESUBSCRIBED}
    assert await b.publish("room.renew", {"type": "after"}) == 1
    assert (await inbox.until(3))[2] == {"type": "after"}


@pytest.mark.embedded
async def test_in_memory_bus_calls_handlers_on_their_own_loop_also_from_another_thread():
    bus = InMemoryBus()
    inbox, other = Inbox(), Inbox()
    await bus.subscribe("room.mem", inbox)
    await bus.subscribe("room.mem", other)
    assert await bus.publish("room.mem", {"n": 1}) == 1  # one process
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(bus.publish_sync("room.mem", {"n": 2})))
    thread.start()
    await asyncio.to_thread(thread.join)
    assert counts == [1]
    assert await inbox.until(2) == [{"n": 1}, {"n": 2}]
    assert set(inbox.loops) == {asyncio.get_running_loop()}
    await bus.unsubscribe("room.mem", inbox)
    await bus.publish("room.mem", {"n": 3})
    assert await other.until(3) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert len(inbox.messages) == 2
    assert await bus.publish("room.none", {}) == 0


@pytest.mark.embedded
async def test_a_failing_handler_does_not_stop_the_others(caplog):
    bus = InMemoryBus()
    inbox = Inbox()

    def broken(message: dict) -> None:
        raise RuntimeError("handler broke")

    await bus.subscribe("room.broken", broken)
    await bus.subscribe("room.broken", inbox)
    await bus.publish("room.broken", {"n": 1})
    assert await inbox.until(1) == [{"n": 1}]
    assert "handler broke" in caplog.text


@pytest.mark.embedded
def test_the_bus_follows_the_settings():
    reset_bus()
    expected = RedisBus if settings.REDIS_URL else InMemoryBus
    assert isinstance(get_bus(), expected)
    assert get_bus() is get_bus()
    reset_bus()
