"""The bus: messages between processes about open documents (updates, awareness, joins, deleted files, access
changes, Spark control). A topic is a name; a subscriber is a plain callback; publishing returns how many
processes were subscribed.

Two implementations behind one small interface:
- `RedisBus` (production): Redis pub/sub. Per process and event loop, one subscriber connection read by one task
  (a topic is subscribed once per process, whatever the number of its local handlers), and every publish queued
  while a pipeline is in flight goes out in the next one (one round trip for all of them; each sender awaits only
  its own batch). `subscribe` returns once Redis confirmed the subscription, so a room loads its stored state only
  after it cannot miss an update. Sync code (Celery tasks, views) publishes over a plain blocking client.
- `InMemoryBus` (embedded mode, one process): handlers are called on their own event loop, also when the
  publisher is another thread (the embedded Celery worker).

Delivery is at most once, as with any pub/sub: a message for a topic nobody subscribes to is dropped, and
messages published while the subscriber connection is being renewed are missed. When redis-py renews the
connection, every handler of a renewed topic gets `{"type": RESUBSCRIBED}`, so it can ask for what it missed.

Why not a Channels layer: the rooms need neither per-consumer channels nor receive loops, but they need the
subscriber count of a publish and a callback per message (measured in docs/benchmarks.md: channels_redis' layers
fell minutes behind at 1,000 edits/s, and a cancelled receive there unsubscribed under a lock for > 20 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Protocol

import msgpack
import redis
from redis import asyncio as aioredis

from workspace.futures import settle

logger = logging.getLogger(__name__)

Handler = Callable[[dict], None]
RESUBSCRIBED = "bus.resubscribed"
RECONNECT_PAUSE_SECONDS = 0.2
SUBSCRIBE_TIMEOUT_SECONDS = 10.0


class Bus(Protocol):
    async def subscribe(self, topic: str, handler: Handler) -> None:
        """Call `handler` with every message published to `topic` from now on (returns once that holds)."""

    async def unsubscribe(self, topic: str, handler: Handler) -> None: ...

    async def publish(self, topic: str, message: dict) -> int:
        """Send to every subscriber; returns how many processes were subscribed (this one included)."""

    def publish_sync(self, topic: str, message: dict) -> int:
        """The same from sync code, in any thread."""

    async def close(self) -> None:
        """Close this event loop's connections and forget its subscriptions."""


def _call(handler: Handler, message: dict) -> None:
    try:
        handler(message)
    except Exception:  # noqa: BLE001 - one handler's failure must not stop the others
        logger.exception("bus handler %r failed on %s", handler, message.get("type"))


# In memory -------------------------------------------------------------------------------------------
class InMemoryBus:
    """One process: handlers keyed by topic, each called on the event loop it subscribed from."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[asyncio.AbstractEventLoop, Handler]]] = {}
        self._lock = threading.Lock()

    async def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(topic, []).append((asyncio.get_running_loop(), handler))

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            handlers = [entry for entry in self._handlers.get(topic, []) if entry[1] != handler]
            if handlers:
                self._handlers[topic] = handlers
            else:
                self._handlers.pop(topic, None)

    def _deliver(self, topic: str, message: dict) -> int:
        with self._lock:
            handlers = [entry for entry in self._handlers.get(topic, []) if not entry[0].is_closed()]
        for loop, handler in handlers:
            with contextlib.suppress(RuntimeError):  # a loop that closed meanwhile
                loop.call_soon_threadsafe(_call, handler, message)
        return 1 if handlers else 0

    async def publish(self, topic: str, message: dict) -> int:
        return self._deliver(topic, message)

    def publish_sync(self, topic: str, message: dict) -> int:
        return self._deliver(topic, message)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            for topic in list(self._handlers):
                kept = [entry for entry in self._handlers[topic] if entry[0] is not loop]
                if kept:
                    self._handlers[topic] = kept
                else:
                    del self._handlers[topic]


# Redis -------------------------------------------------------------------------------------------------
class RedisBus:
    def __init__(self, url: str, prefix: str, client_name: str = "sparkroom-bus") -> None:
        self.url = url
        self.prefix = prefix
        self.client_name = client_name
        self._per_loop: dict[asyncio.AbstractEventLoop, _LoopBus] = {}
        self._sync_client: redis.Redis | None = None

    def _key(self, topic: str) -> bytes:
        return f"{self.prefix}:{topic}".encode()

    def _loop_bus(self) -> _LoopBus:
        loop = asyncio.get_running_loop()
        bus = self._per_loop.get(loop)
        if bus is None:
            for stale in [other for other in self._per_loop if other.is_closed()]:
                del self._per_loop[stale]
            bus = self._per_loop[loop] = _LoopBus(self.url, self.client_name)
        return bus

    async def subscribe(self, topic: str, handler: Handler) -> None:
        await self._loop_bus().subscribe(self._key(topic), handler)

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        await self._loop_bus().unsubscribe(self._key(topic), handler)

    async def publish(self, topic: str, message: dict) -> int:
        return await self._loop_bus().publish(self._key(topic), msgpack.packb(message, use_bin_type=True))

    def publish_sync(self, topic: str, message: dict) -> int:
        if self._sync_client is None:
            self._sync_client = redis.Redis.from_url(self.url, client_name=self.client_name)
        return self._sync_client.publish(self._key(topic), msgpack.packb(message, use_bin_type=True))

    async def close(self) -> None:
        bus = self._per_loop.pop(asyncio.get_running_loop(), None)
        if bus is not None:
            await bus.close()


class _LoopBus:
    """The Redis connections and subscriptions of one event loop."""

    def __init__(self, url: str, client_name: str) -> None:
        self.redis = aioredis.Redis.from_url(url, client_name=client_name)
        self.pubsub = self.redis.pubsub()
        self.handlers: dict[bytes, list[Handler]] = {}
        self._outbox: list[tuple[bytes, bytes, asyncio.Future]] = []
        self._publisher: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None
        self._confirmations: dict[bytes, list[asyncio.Future]] = {}
        # Topic -> its SUBSCRIBE in flight or done; every local handler awaits the same one.
        self._subscriptions: dict[bytes, asyncio.Task] = {}
        # Only for the subscriber connection's writes (SUBSCRIBE/UNSUBSCRIBE): never held across a read.
        self._subscription_lock = asyncio.Lock()

    # Publishing ------------------------------------------------------------------------------------
    async def publish(self, key: bytes, data: bytes) -> int:
        loop = asyncio.get_running_loop()
        sent: asyncio.Future = loop.create_future()
        self._outbox.append((key, data, sent))
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
    async def subscribe(self, key: bytes, handler: Handler) -> None:
        handlers = self.handlers.setdefault(key, [])
        handlers.append(handler)
        subscribed = self._subscriptions.get(key)
        if subscribed is None:
            subscribed = self._subscriptions[key] = asyncio.get_running_loop().create_task(self._subscribe(key))
        try:
            await asyncio.shield(subscribed)  # a cancelled subscriber must not cancel the others' subscription
        except BaseException:
            if handler in handlers:
                handlers.remove(handler)
            if not handlers:
                self.handlers.pop(key, None)
                if self._subscriptions.get(key) is subscribed:
                    del self._subscriptions[key]
            raise

    async def unsubscribe(self, key: bytes, handler: Handler) -> None:
        handlers = self.handlers.get(key)
        if not handlers or handler not in handlers:
            return
        handlers.remove(handler)
        if not handlers:
            del self.handlers[key]
            self._subscriptions.pop(key, None)
            async with self._subscription_lock:
                with contextlib.suppress(Exception):  # a lost connection has no subscriptions left to end
                    await self.pubsub.unsubscribe(key)

    async def _subscribe(self, key: bytes) -> None:
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

    async def _read(self) -> None:
        """One task per loop: blocks on the subscriber socket and calls the handlers."""
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
                    self._hand_over(message["channel"], {"type": RESUBSCRIBED})
                continue
            if message["type"] == "message":
                try:
                    decoded = msgpack.unpackb(message["data"], raw=False)
                except ValueError:
                    logger.warning("dropped an undecodable bus message on %r", message["channel"])
                    continue
                self._hand_over(message["channel"], decoded)

    def _hand_over(self, key: bytes, message: dict) -> None:
        for handler in list(self.handlers.get(key, ())):
            _call(handler, message)

    async def close(self) -> None:
        outbox, self._outbox = self._outbox, []
        settle((sent for *_, sent in outbox), ConnectionError("bus closed"))
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
        self.handlers.clear()


_bus: Bus | None = None


def get_bus() -> Bus:
    """This process's bus: Redis when REDIS_URL is set, otherwise in memory."""
    global _bus
    if _bus is None:
        from django.conf import settings

        _bus = RedisBus(settings.REDIS_URL, settings.BUS_PREFIX) if settings.REDIS_URL else InMemoryBus()
    return _bus


def reset_bus() -> None:
    """Forget the bus (tests: every test runs on an event loop of its own)."""
    global _bus
    _bus = None
