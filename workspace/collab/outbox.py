"""Everything the server sends to one document connection, with back-pressure.

A frame is written at once while the connection's transport takes it (nothing queued before it, transport not
paused). Otherwise it waits in this connection's queue, sent in order as the transport drains. The queue is
bounded in bytes (COLLAB_CLIENT_QUEUE_BYTES): a client that stops reading is closed (`on_overflow`) instead of
growing the server without end, and resyncs when it reconnects. One frame is always accepted into an empty
queue, however large (a whole document in sync step 2), so the bound never refuses a single reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)


class ClientTransport(Protocol):
    def try_send(self, frame: bytes) -> bool:
        """Write now, without awaiting, if the transport takes it without queueing; False when it sent nothing."""

    async def send(self, frame: bytes) -> None: ...

    async def writable(self) -> None:
        """Returns once the transport can take more (at once unless it asked to pause)."""


class ClientOutbox:
    def __init__(self, transport: ClientTransport, limit: int, on_overflow: Callable[[], None]) -> None:
        self.transport = transport
        self.limit = limit
        self.on_overflow = on_overflow
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.overflowed = False
        self._sender: asyncio.Task | None = None

    def push(self, frame: bytes) -> None:
        """Send or queue one frame, without making the caller wait."""
        if self.overflowed:
            return
        if not self.queue and self.transport.try_send(frame):
            return
        if self.queue and self.queued_bytes + len(frame) > self.limit:
            self.overflowed = True
            self.queue.clear()
            self.queued_bytes = 0
            self.on_overflow()
            return
        self.queue.append(frame)
        self.queued_bytes += len(frame)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_queued())

    async def _send_queued(self) -> None:
        while self.queue:
            await self.transport.writable()
            if not self.queue:
                return
            frame = self.queue.popleft()
            self.queued_bytes -= len(frame)
            try:
                await self.transport.send(frame)
            except Exception:  # noqa: BLE001 - a broken socket: its consumer is closing anyway
                logger.info("could not send to a closing document connection", exc_info=True)
                self.queue.clear()
                self.queued_bytes = 0
                return

    def close(self) -> None:
        """The connection is gone: drop what is queued and stop waiting for the transport."""
        self.overflowed = True
        self.queue.clear()
        self.queued_bytes = 0
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()

    async def flushed(self) -> None:
        """Wait until everything queued was handed to the transport."""
        sender = self._sender
        if sender is not None and not sender.done():
            await asyncio.shield(sender)
