"""RedisPubSubLayer: the rooms' channel layer on Redis pub/sub (delivery, subscriptions, batching, loops, recovery)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from uuid import uuid4

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from redis import asyncio as aioredis

from workspace.pubsub_layer import RESUBSCRIBED, RedisPubSubLayer

RECEIVE_TIMEOUT = 5.0


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid4().hex}"


@pytest.fixture
async def make_layer(prefix):
    """Layer instances sharing one unique prefix: each has its own connections, like one Daphne process."""
    created: list[RedisPubSubLayer] = []

    def make() -> RedisPubSubLayer:
        layer = RedisPubSubLayer(hosts=[settings.REDIS_URL], prefix=prefix)
        created.append(layer)
        return layer

    try:
        yield make
    finally:
        for layer in created:
            await layer.flush()


@pytest.fixture
async def plain_redis():
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


def group_key(prefix: str, group: str) -> bytes:
    return f"{prefix}:group:{group}".encode()


async def receive(layer: RedisPubSubLayer, channel: str) -> dict:
    # Only for messages that must arrive: a receive cancelled by the timeout closes the channel.
    return await asyncio.wait_for(layer.receive(channel), RECEIVE_TIMEOUT)


async def numsub(client: aioredis.Redis, key: bytes) -> int:
    [(_, count)] = await client.pubsub_numsub(key)
    return count


async def wait_for_numsub(client: aioredis.Redis, key: bytes, expected: int, timeout: float = 2.0) -> int:
    """UNSUBSCRIBE is written without waiting for Redis' reply: poll until Redis has applied it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    count = await numsub(client, key)
    while count != expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
        count = await numsub(client, key)
    return count


def pubsub_address(layer: RedisPubSubLayer) -> str:
    """ip:port of this loop's subscriber connection, as Redis' CLIENT LIST shows it in `addr`."""
    host, port = layer._connection().pubsub.connection._writer.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


async def client_addresses(client: aioredis.Redis) -> set[str]:
    return {entry["addr"] for entry in await client.client_list()}


# --- Delivery --------------------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_group_send_reaches_every_member_in_both_processes_and_round_trips_bytes_and_str(make_layer):
    a, b = make_layer(), make_layer()
    a1, a2, b1 = await a.new_channel(), await a.new_channel(), await b.new_channel()
    for layer, channel in ((a, a1), (a, a2), (b, b1)):
        await layer.group_add("room.1", channel)

    message = {
        "type": "doc.update",
        "update": bytes(range(256)),
        "text": "héllo wörld ✓ 🎉",
        "empty_bytes": b"",
        "empty_text": "",
        "n": 2**40,
        "nested": {"items": [1, b"\x00\xff", "zwei", None, True, 1.5]},
    }
    await a.group_send("room.1", message)
    for layer, channel in ((a, a1), (a, a2), (b, b1)):
        received = await receive(layer, channel)
        assert received == message
        assert type(received["update"]) is bytes and type(received["text"]) is str
        assert type(received["nested"]["items"][1]) is bytes

    # And the other way round: a publish from the second process reaches the first one's members.
    await b.group_send("room.1", {"type": "from.b", "data": b"\x01"})
    for layer, channel in ((a, a1), (a, a2), (b, b1)):
        assert await receive(layer, channel) == {"type": "from.b", "data": b"\x01"}


@pytest.mark.redis
async def test_send_to_a_specific_channel_reaches_only_that_channel(make_layer):
    a, b = make_layer(), make_layer()
    target, sibling, remote = await a.new_channel(), await a.new_channel(), await b.new_channel()
    for layer, channel in ((a, target), (a, sibling), (b, remote)):
        await layer.group_add("room.2", channel)

    await b.send(target, {"type": "direct", "data": b"only you"})
    assert await receive(a, target) == {"type": "direct", "data": b"only you"}

    # The direct message was published before these markers on a single Redis server and every channel of a
    # layer shares one subscriber connection: had it reached the others, it would be received before the marker.
    await b.send(sibling, {"type": "marker"})
    await a.send(remote, {"type": "marker"})
    assert await receive(a, sibling) == {"type": "marker"}
    assert await receive(b, remote) == {"type": "marker"}


@pytest.mark.redis
async def test_group_discard_stops_delivery_and_the_last_local_member_ends_the_subscription(
    make_layer, plain_redis, prefix
):
    a, b = make_layer(), make_layer()
    first, second = await a.new_channel(), await a.new_channel()
    key = group_key(prefix, "room.3")
    await a.group_add("room.3", first)
    await a.group_add("room.3", second)
    assert await numsub(plain_redis, key) == 1  # one subscription per process, whatever its number of members

    await a.group_discard("room.3", first)
    assert await numsub(plain_redis, key) == 1  # `second` still listens
    await b.group_send("room.3", {"type": "after.discard"})
    assert await receive(a, second) == {"type": "after.discard"}
    await b.send(first, {"type": "marker"})
    assert await receive(a, first) == {"type": "marker"}  # the group message never reached `first`

    await a.group_discard("room.3", first)  # discarding twice, or a non-member, is a no-op
    await a.group_discard("room.3", second)
    assert await wait_for_numsub(plain_redis, key, 0) == 0
    assert key not in a._connection().targets

    # Rejoining subscribes again.
    await a.group_add("room.3", second)
    assert await numsub(plain_redis, key) == 1
    await b.group_send("room.3", {"type": "rejoined"})
    assert await receive(a, second) == {"type": "rejoined"}


@pytest.mark.redis
async def test_subscription_is_confirmed_before_group_add_and_new_channel_return(
    make_layer, plain_redis, prefix, monkeypatch
):
    a, b = make_layer(), make_layer()

    async def check(i: int) -> None:
        channel = await b.new_channel()
        await a.send(channel, {"type": "direct", "i": i})  # published the moment new_channel() returned
        group = f"room.confirm.{i}"
        await b.group_add(group, channel)
        assert await numsub(plain_redis, group_key(prefix, group)) == 1
        await a.group_send(group, {"type": "group", "i": i})
        assert await receive(b, channel) == {"type": "direct", "i": i}
        assert await receive(b, channel) == {"type": "group", "i": i}

    for i in range(50):
        await check(i)

    # On loopback Redis tends to apply a SUBSCRIBE before a later PUBLISH anyway; a slow SUBSCRIBE round trip,
    # made deterministic, shows that new_channel() and group_add() really wait for it.
    pubsub = b._connection().pubsub
    subscribe = pubsub.subscribe

    async def slow_subscribe(*keys):
        await asyncio.sleep(0.05)
        return await subscribe(*keys)

    monkeypatch.setattr(pubsub, "subscribe", slow_subscribe)
    for i in range(50, 55):
        await check(i)


@pytest.mark.redis
async def test_group_add_while_another_local_join_of_the_group_is_pending_waits_for_the_subscription(
    make_layer, monkeypatch
):
    a, b = make_layer(), make_layer()
    room, streamer = await b.new_channel(), await b.new_channel()  # e.g. a room and a Spark streamer of a file
    pubsub = b._connection().pubsub
    subscribe = pubsub.subscribe

    async def slow_subscribe(*keys):
        await asyncio.sleep(0.3)  # a slow Redis round trip, made deterministic
        return await subscribe(*keys)

    monkeypatch.setattr(pubsub, "subscribe", slow_subscribe)
    first_join = asyncio.create_task(b.group_add("room.race", room))
    await asyncio.sleep(0)  # the first join is now waiting for its SUBSCRIBE
    await b.group_add("room.race", streamer)
    await a.group_send("room.race", {"type": "after.join"})
    await first_join
    await a.send(streamer, {"type": "marker"})
    assert await receive(b, streamer) == {"type": "after.join"}


# --- Publishing: batching and order ----------------------------------------------------------------------------------


@pytest.mark.redis
async def test_thousands_of_concurrent_group_sends_are_all_delivered_in_order_and_batched(make_layer, monkeypatch):
    a, b = make_layer(), make_layer()
    channel = await b.new_channel()
    await b.group_add("room.busy", channel)

    connection = a._connection()
    pipelines = 0
    pipeline = connection.redis.pipeline

    def counting_pipeline(*args, **kwargs):
        nonlocal pipelines
        pipelines += 1
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(connection.redis, "pipeline", counting_pipeline)

    total = 2000
    await asyncio.gather(*(a.group_send("room.busy", {"type": "burst", "i": i}) for i in range(total)))
    received = [await receive(b, channel) for _ in range(total)]
    assert sorted(message["i"] for message in received) == list(range(total))
    assert 1 <= pipelines < total / 10, pipelines

    # Sequential sends of each sender arrive in that sender's order, while the senders interleave.
    async def sender(name: str, count: int) -> None:
        for seq in range(count):
            await a.group_send("room.busy", {"type": "seq", "sender": name, "seq": seq})

    senders, per_sender = 8, 250
    pipelines = 0
    await asyncio.gather(*(sender(f"s{n}", per_sender) for n in range(senders)))
    by_sender: dict[str, list[int]] = defaultdict(list)
    for _ in range(senders * per_sender):
        message = await receive(b, channel)
        by_sender[message["sender"]].append(message["seq"])
    assert by_sender == {f"s{n}": list(range(per_sender)) for n in range(senders)}
    assert pipelines < senders * per_sender / 2, pipelines  # each pipeline carried one send of most senders


# --- Cancelled receive (django/channels_redis#319) -------------------------------------------------------------------


@pytest.mark.redis
async def test_a_cancelled_receive_closes_the_channel_without_hanging(make_layer, plain_redis, prefix):
    a, b = make_layer(), make_layer()
    channel = await b.new_channel()
    await b.group_add("room.cancel", channel)
    connection = b._connection()

    pending = asyncio.create_task(b.receive(channel))
    await asyncio.sleep(0.05)
    pending.cancel()
    async with asyncio.timeout(1):
        with pytest.raises(asyncio.CancelledError):
            await pending
        for _ in range(50):
            if channel not in connection.queues and not any(channel in m for m in connection.targets.values()):
                break
            await asyncio.sleep(0.01)
    assert channel not in connection.queues
    assert not any(channel in members for members in connection.targets.values())
    assert await wait_for_numsub(plain_redis, group_key(prefix, "room.cancel"), 0) == 0
    assert await wait_for_numsub(plain_redis, f"{prefix}:{channel}".encode(), 0) == 0

    async with asyncio.timeout(1):
        fresh = await b.new_channel()
        await b.group_add("room.cancel", fresh)
        await a.group_send("room.cancel", {"type": "after.cancel"})
        assert await b.receive(fresh) == {"type": "after.cancel"}


@pytest.mark.redis
async def test_many_receives_cancelled_at_once_while_publishing_leave_the_layer_responsive(make_layer):
    a, b = make_layer(), make_layer()
    channels = [await b.new_channel() for _ in range(20)]
    for channel in channels:
        await b.group_add("room.storm", channel)
    receivers = [asyncio.create_task(b.receive(channel)) for channel in channels]
    publishing = asyncio.gather(*(a.group_send("room.storm", {"type": "x", "i": i}) for i in range(200)))
    await asyncio.sleep(0)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    await publishing

    async with asyncio.timeout(2):
        survivor = await b.new_channel()
        await b.group_add("room.storm", survivor)
        await b.group_add("room.other", survivor)
        await a.group_send("room.other", {"type": "still.alive"})
        assert await b.receive(survivor) == {"type": "still.alive"}
    assert not set(channels) & set(b._connection().queues)


# --- Validation ------------------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_group_add_with_a_channel_of_another_layer_or_unknown_raises_runtime_error(make_layer):
    a, b = make_layer(), make_layer()
    foreign = await a.new_channel()
    with pytest.raises(RuntimeError, match="needs a channel of this process"):
        await b.group_add("room.foreign", foreign)
    with pytest.raises(RuntimeError, match="needs a channel of this process"):
        await b.group_add("room.foreign", "specific.never-created")
    assert group_key(b.prefix, "room.foreign") not in b._connection().targets


@pytest.mark.embedded
@pytest.mark.parametrize(
    "call",
    [
        lambda layer: layer.group_add("bad group!", "specific.abc"),
        lambda layer: layer.group_add("g" * 101, "specific.abc"),
        lambda layer: layer.group_add(123, "specific.abc"),
        lambda layer: layer.group_add("room", "bad channel!"),
        lambda layer: layer.group_discard("bad group!", "specific.abc"),
        lambda layer: layer.group_discard("room", "c" * 101),
        lambda layer: layer.group_send("bad group!", {"type": "x"}),
        lambda layer: layer.send("bad channel!", {"type": "x"}),
        lambda layer: layer.send(b"bytes.channel", {"type": "x"}),
        lambda layer: layer.receive("bad channel!"),
    ],
    ids=[
        "add-group-chars",
        "add-group-length",
        "add-group-type",
        "add-channel-chars",
        "discard-group-chars",
        "discard-channel-length",
        "group-send-group-chars",
        "send-channel-chars",
        "send-channel-type",
        "receive-channel-chars",
    ],
)
async def test_invalid_group_and_channel_names_raise_type_error_before_any_redis_io(call):
    # Channels 4.x validates names with TypeError. Nothing listens on port 1: validation must come first.
    layer = RedisPubSubLayer(hosts=["redis://127.0.0.1:1/0"], prefix=f"test-{uuid4().hex}")
    try:
        with pytest.raises(TypeError, match="name must be a valid unicode string"):
            await call(layer)
    finally:
        await layer.flush()


# --- Event loops -----------------------------------------------------------------------------------------------------


@pytest.mark.redis
def test_the_layer_works_on_separate_event_loops_each_with_its_own_connection(prefix):
    layer = RedisPubSubLayer(hosts=[settings.REDIS_URL], prefix=prefix)
    seen: list[tuple[asyncio.AbstractEventLoop, object]] = []

    async def round_trip(tag: int, close: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            channel = await layer.new_channel()
            await layer.group_add("room.loops", channel)
            await layer.group_send("room.loops", {"type": "loop", "tag": tag})
            assert await receive(layer, channel) == {"type": "loop", "tag": tag}
            connection = layer._per_loop[loop]
            seen.append((loop, connection))
            assert list(layer._per_loop) == [loop]  # the closed earlier loop's connection was dropped
            if close:
                checker = aioredis.Redis.from_url(settings.REDIS_URL)
                try:
                    address = pubsub_address(layer)
                    assert address in await client_addresses(checker)
                    await layer.close_pools()
                    assert loop not in layer._per_loop
                    assert connection._reader.done() and connection.pubsub.connection is None
                    for _ in range(50):
                        if address not in await client_addresses(checker):
                            break
                        await asyncio.sleep(0.02)
                    assert address not in await client_addresses(checker)
                finally:
                    await checker.aclose()
        finally:
            await layer.flush()

    asyncio.run(round_trip(1, close=True))
    asyncio.run(round_trip(2, close=True))

    # A loop that ended without close_pools() does not hold back the next one.
    async def without_closing() -> None:
        channel = await layer.new_channel()
        await layer.group_add("room.loops", channel)
        await layer.group_send("room.loops", {"type": "loop", "tag": 3})
        assert await receive(layer, channel) == {"type": "loop", "tag": 3}
        seen.append((asyncio.get_running_loop(), layer._per_loop[asyncio.get_running_loop()]))

    asyncio.run(without_closing())
    asyncio.run(round_trip(4, close=True))
    assert len({id(loop) for loop, _ in seen}) == len({id(connection) for _, connection in seen}) == 4


# --- Resilience ------------------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_after_its_connection_is_killed_the_reader_resubscribes_and_tells_the_members(make_layer, plain_redis):
    a, b = make_layer(), make_layer()
    channel = await b.new_channel()
    await b.group_add("room.resilient", channel)
    connection = b._connection()
    before = pubsub_address(b)

    # Only this test's subscriber connection: CLIENT KILL TYPE pubsub would hit every other client of the server.
    assert await plain_redis.client_kill_filter(addr=before) == 1

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    recovered = False
    probe = 0
    while not recovered and loop.time() < deadline:
        probe += 1
        await a.group_send("room.resilient", {"type": "probe", "n": probe})
        await asyncio.sleep(0.1)
        recovered = not connection.queues[channel].empty()
    assert recovered, "no message delivered within 5 s of the subscriber connection being killed"
    assert pubsub_address(b) != before  # a new connection, subscribed again by redis-py

    await a.group_send("room.resilient", {"type": "after.recovery"})
    received = [await receive(b, channel)]
    while received[-1]["type"] != "after.recovery":
        received.append(await receive(b, channel))
    # The members learn first that messages may have been missed (a room then asks its peers for their state).
    assert received[0] == {"type": RESUBSCRIBED}
    # (redis-py may confirm the renewed subscription more than once; each confirmation is handed on.)
    assert {m["type"] for m in received[1:-1]} <= {"probe", RESUBSCRIBED}, received

    # New subscriptions are confirmed on the new connection too.
    fresh = await b.new_channel()
    await b.group_add("room.resilient.2", fresh)
    await a.group_send("room.resilient.2", {"type": "new.group"})
    assert await receive(b, fresh) == {"type": "new.group"}


# --- Django settings -------------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.skipif(not settings.REDIS_URL, reason="production mode: needs REDIS_URL")
@pytest.mark.skipif(settings.ROOMS_CHANNEL_LAYER != "pubsub", reason="ROOMS_CHANNEL_LAYER puts the rooms elsewhere")
def test_production_settings_put_rooms_on_the_pubsub_layer_and_the_rest_on_channels_redis():
    from channels_redis.core import RedisChannelLayer

    rooms = get_channel_layer("rooms")
    default = get_channel_layer()
    assert isinstance(rooms, RedisPubSubLayer)
    assert rooms.url == settings.REDIS_URL
    assert rooms.prefix == f"{settings.CHANNEL_PREFIX}.rooms"
    assert type(default) is RedisChannelLayer


@pytest.mark.embedded
@pytest.mark.skipif(bool(settings.REDIS_URL), reason="embedded mode: no REDIS_URL")
def test_embedded_settings_use_the_in_memory_layer_for_both_aliases():
    assert type(get_channel_layer("rooms")) is InMemoryChannelLayer
    assert type(get_channel_layer()) is InMemoryChannelLayer
