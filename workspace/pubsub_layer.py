"""A Channels layer on Redis pub/sub, built for the rooms' fan-out between Daphne processes.

Why not channels_redis (measured with bench/collab.py, 50 docs x 20 clients, two Daphne processes):
its list-based layer needs about four Redis round trips per received message behind one receive
lock per process and fell minutes behind at 1,000 edits/s; its pub/sub layer sends every publish
of a process one at a time behind one lock, and a cancelled receive unsubscribes while holding that
lock (django/channels_redis#319), which left room connects in our browser tests waiting > 20 s.

Here, per process and event loop:
- every publish queued while a pipeline is in flight goes out in the next one: one Redis round trip
  for all of them, and each sender awaits only its own batch;
- one subscriber connection, read by one task that blocks on the socket; subscribing and
  unsubscribing only write to it, so they never wait behind a read or a publish;
- a specific channel is a Redis channel of its own, a group is a Redis channel that each process
  subscribes to once, whatever the number of its local members.

Delivery is at most once, as with any pub/sub: a message for a channel or group that nobody
subscribes to is dropped, and messages published while the subscriber reconnects are missed. The
rooms tolerate both: every update is stored before fan-out, and once the subscriber is back each
local member of a group gets a `layer.resubscribed` message (see `RESUBSCRIBED`), on which a room
asks its peers for what it may have missed.

Beyond Channels' API, for the rooms: `group_send` returns how many processes were subscribed to the
group when Redis published the message (PUBLISH's reply, this process included), and
`local_members` names this process's members of a group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import msgpack
from channels.layers import BaseChannelLayer
from redis import asyncio as aioredis

from workspace.futures import settle

logger = logging.getLogger(__name__)

RECONNECT_PAUSE_SECONDS = 0.2
SUBSCRIBE_TIMEOUT_SECONDS = 10.0
# Handed to the local members of a group whose subscription was renewed after the connection was lost.
RESUBSCRIBED = "layer.resubscribed"


class RedisPubSubLayer(BaseChannelLayer):
    """Channel layer API: send, receive, new_channel, group_add, group_discard, group_send, flush."""

    extensions = ["groups", "flush"]

    def __init__(self, hosts: list | None = None, prefix: str = "asgi", **kwargs) -> None:
        super().__init__(expiry=kwargs.pop("expiry", 60), capacity=kwargs.pop("capacity", 100))
        host = (hosts or ["redis://127.0.0.1:6379/0"])[0]
        self.url: str = host["address"] if isinstance(host, dict) else host
        self.prefix = prefix
        self._per_loop: dict[asyncio.AbstractEventLoop, _LoopConnection] = {}

    def _connection(self) -> _LoopConnection:
        loop = asyncio.get_running_loop()
        connection = self._per_loop.get(loop)
        if connection is None:
            for stale in [other for other in self._per_loop if other.is_closed()]:
                del self._per_loop[stale]
            connection = self._per_loop[loop] = _LoopConnection(self.url)
        return connection

    def _channel_key(self, channel: str) -> bytes:
        return f"{self.prefix}:{channel}".encode()

    def _group_key(self, group: str) -> bytes:
        return f"{self.prefix}:group:{group}".encode()

    async def send(self, channel: str, message: dict) -> None:
        self.require_valid_channel_name(channel)
        await self._connection().publish(self._channel_key(channel), message)

    async def new_channel(self, prefix: str = "specific.") -> str:
        channel = f"{prefix}{uuid.uuid4().hex}"
        await self._connection().open_channel(channel, self._channel_key(channel))
        return channel

    async def receive(self, channel: str) -> dict:
        """The next message of a channel of this process. A cancelled receive closes the channel."""
        self.require_valid_channel_name(channel)
        connection = self._connection()
        if channel not in connection.queues:
            await connection.open_channel(channel, self._channel_key(channel))
        return await connection.receive(channel)

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._connection().join(self._group_key(group), channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._connection().leave(self._group_key(group), channel)

    async def group_send(self, group: str, message: dict) -> int:
        """Returns the number of processes subscribed to the group when Redis published it (this one included)."""
        self.require_valid_group_name(group)
        return await self._connection().publish(self._group_key(group), message)

    def local_members(self, group: str) -> set[str]:
        """This process's channels in the group (including those whose subscription is still being confirmed)."""
        return set(self._connection().targets.get(self._group_key(group), ()))

    async def flush(self) -> None:
        """Forget this event loop's channels and groups and close its connections."""
        await self.close_pools()

    async def close_pools(self) -> None:
        connection = self._per_loop.pop(asyncio.get_running_loop(), None)
        if connection is not None:
            await connection.close()


_RESUBSCRIBED_DATA = msgpack.packb({"type": RESUBSCRIBED}, use_bin_type=True)


class _LoopConnection:
    """The Redis connections, subscriptions and local queues of one event loop."""

    def __init__(self, url: str) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.pubsub = self.redis.pubsub()
        self.queues: dict[str, asyncio.Queue] = {}
        # Redis channel -> local channels it is delivered to (a specific channel is a group of one).
        self.targets: dict[bytes, set[str]] = {}
        self._outbox: list[tuple[bytes, bytes, asyncio.Future]] = []
        self._publisher: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None
        self._confirmations: dict[bytes, list[asyncio.Future]] = {}
        # Redis channel -> its SUBSCRIBE in flight or done; every local member awaits the same one.
        self._subscriptions: dict[bytes, asyncio.Task] = {}
        # Only for the subscriber connection's writes (SUBSCRIBE/UNSUBSCRIBE): never held across a read.
        self._subscription_lock = asyncio.Lock()

    # Publishing ------------------------------------------------------------------------------------
    async def publish(self, key: bytes, message: dict) -> int:
        """Returns PUBLISH's reply: the number of subscribers (processes) that got the message."""
        loop = asyncio.get_running_loop()
        sent: asyncio.Future = loop.create_future()
        self._outbox.append((key, msgpack.packb(message, use_bin_type=True), sent))
        if self._publisher is None or self._publisher.done():
            self._publisher = loop.create_task(self._publish_queued())
        return await sent

    async def _publish_queued(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, data, _ in batch:
                        pipe.publish(key, data)
                    receivers = await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - handed to every sender of the batch
                settle((sent for *_, sent in batch), exc)
                continue
            for (*_, sent), count in zip(batch, receivers, strict=True):
                if not sent.done():
                    sent.set_result(count)

    # Subscribing -----------------------------------------------------------------------------------
    async def open_channel(self, channel: str, key: bytes) -> None:
        self.queues.setdefault(channel, asyncio.Queue())
        try:
            await self.join(key, channel)
        except BaseException:
            self.queues.pop(channel, None)
            raise

    async def join(self, key: bytes, channel: str) -> None:
        """Returns once the Redis subscription of `key` is confirmed, also for a member joining while it is pending."""
        if channel not in self.queues:
            raise RuntimeError(f"group_add() needs a channel of this process (from new_channel()), not {channel!r}")
        members = self.targets.setdefault(key, set())
        members.add(channel)
        subscribed = self._subscriptions.get(key)
        if subscribed is None:
            subscribed = self._subscriptions[key] = asyncio.get_running_loop().create_task(self._subscribe(key))
        try:
            await asyncio.shield(subscribed)  # a cancelled joiner must not cancel the others' subscription
        except BaseException:
            members.discard(channel)
            if not members:
                self.targets.pop(key, None)
                if self._subscriptions.get(key) is subscribed:
                    del self._subscriptions[key]
            raise

    async def leave(self, key: bytes, channel: str) -> None:
        members = self.targets.get(key)
        if not members or channel not in members:
            return
        members.discard(channel)
        if not members:
            del self.targets[key]
            self._subscriptions.pop(key, None)
            await self._unsubscribe(key)

    async def _subscribe(self, key: bytes) -> None:
        """Returns once Redis confirmed: a room loads its document only after it cannot miss an update."""
        loop = asyncio.get_running_loop()
        confirmed: asyncio.Future = loop.create_future()
        self._confirmations.setdefault(key, []).append(confirmed)
        try:
            async with self._subscription_lock:
                await self.pubsub.subscribe(key)
            if self._reader is None or self._reader.done():
                self._reader = loop.create_task(self._read())
            await asyncio.wait_for(confirmed, SUBSCRIBE_TIMEOUT_SECONDS)
        finally:
            waiting = self._confirmations.get(key, [])
            if confirmed in waiting:
                waiting.remove(confirmed)

    async def _unsubscribe(self, key: bytes) -> None:
        async with self._subscription_lock:
            with contextlib.suppress(Exception):  # a lost connection has no subscriptions left to end
                await self.pubsub.unsubscribe(key)

    async def receive(self, channel: str) -> dict:
        try:
            data = await self.queues[channel].get()
        except asyncio.CancelledError:
            # Clean up in a task of its own: nothing here may wait on Redis while being cancelled.
            asyncio.get_running_loop().create_task(self._close_channel(channel))
            raise
        return msgpack.unpackb(data, raw=False)

    async def _close_channel(self, channel: str) -> None:
        self.queues.pop(channel, None)
        for group_key in [k for k, members in self.targets.items() if channel in members]:
            await self.leave(group_key, channel)

    async def _read(self) -> None:
        """One task per loop: blocks on the subscriber socket and hands messages to local queues."""
        while True:
            try:
                message = await self.pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - redis-py reconnects and resubscribes on the next read
                logger.warning("Redis pub/sub read failed; reconnecting", exc_info=True)
                await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
                continue
            if message is None:
                continue
            if message["type"] == "subscribe":
                waiting = self._confirmations.get(message["channel"])
                if waiting:
                    first = waiting.pop(0)
                    if not first.done():
                        first.set_result(None)
                else:  # nobody asked: redis-py renewed the subscription on a new connection
                    self._hand_to_members(message["channel"], _RESUBSCRIBED_DATA)
                continue
            if message["type"] == "message":
                self._hand_to_members(message["channel"], message["data"])

    def _hand_to_members(self, key: bytes, data: bytes) -> None:
        for channel in self.targets.get(key, ()):
            queue = self.queues.get(channel)
            if queue is not None:
                queue.put_nowait(data)

    async def close(self) -> None:
        outbox, self._outbox = self._outbox, []
        settle((sent for *_, sent in outbox), ConnectionError("channel layer closed"))
        for task in (self._reader, self._publisher):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        for subscribing in self._subscriptions.values():
            subscribing.cancel()
        self._subscriptions.clear()
        self.queues.clear()
        self.targets.clear()
