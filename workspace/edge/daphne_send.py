"""Binary WebSocket frames written straight to Daphne's connection: the rooms' fan-out path.

Under Daphne an ASGI `websocket.send` goes through Server.handle_reply (a coroutine), the protocol's
handle_reply and serverSend, then autobahn's sendMessage, sendFrame and sendData (which formats two
debug-log arguments on every call, logging on or off) before `transport.write`. In a py-spy profile of
bench/collab.py that Python was about a fifth of Daphne's event loop: one keystroke in a room of 20 is
19 sends. `direct_binary_sender` returns a function that frames the payload itself (a server's frames
are unmasked: a 2 to 10 byte header, then the payload) and writes it to the transport, which is what
autobahn does for a connection in this state: open, no per-message compression negotiated, nothing in
autobahn's own send queue, no fragmentation, masking or frame logging configured, within the message
size limit. Autobahn's traffic counters, which nothing here reads, are not updated.

In any other state it sends nothing and returns False: the caller then uses the ASGI send, which
raises, queues or closes as Daphne decides. Anything that is not a Daphne connection (Channels' test
communicator, another server) gets no direct sender at all.

These read autobahn's and Daphne's private attributes, so they run only after `workspace.edge.install` found them
working on the installed versions (`selfcheck`); until then, and for good after any failure of a direct send
(an attribute gone, an exception), every frame takes the ASGI send: a frame is never dropped for the shortcut.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from functools import partial

logger = logging.getLogger(__name__)

BINARY_FINAL_FRAME = 0x82  # FIN bit + opcode 2

_direct_frames = {"enabled": False}


def enable_direct_frames(enabled: bool) -> None:
    """Switched on by `workspace.edge.install` once the self-check passed; off again after any failure."""
    _direct_frames["enabled"] = enabled


def direct_frames_enabled() -> bool:
    return _direct_frames["enabled"]


def frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final, binary frame carrying `length` payload bytes."""
    if length <= 125:
        return bytes((BINARY_FINAL_FRAME, length))
    if length <= 0xFFFF:
        return struct.pack("!BBH", BINARY_FINAL_FRAME, 126, length)
    return struct.pack("!BBQ", BINARY_FINAL_FRAME, 127, length)


def _daphne_protocol(send: Callable):
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    if not (isinstance(send, partial) and getattr(send.func, "__func__", None) is Server.handle_reply):
        return None
    protocol = send.args[0] if send.args else None
    return protocol if isinstance(protocol, WebSocketProtocol) else None


def direct_binary_sender(send: Callable) -> Callable[[bytes], bool] | None:
    """For the ASGI `send` of a Daphne WebSocket connection: a function that sends one binary message now
    and returns True, or returns False (sending nothing) when the connection needs Daphne's own path."""
    protocol = _daphne_protocol(send)
    return None if protocol is None else partial(send_binary_frame, protocol)


def send_binary_frame(protocol, payload: bytes) -> bool:
    """Frame and write `payload` when autobahn would write exactly that now; otherwise send nothing, False."""
    if (
        protocol.state != protocol.STATE_OPEN
        or protocol._perMessageCompress is not None
        or protocol.send_queue
        or protocol.maskServerFrames
        or protocol.logFrames
        or protocol.logOctets
        or protocol.trackedTimings
        or 0 < protocol.autoFragmentSize < len(payload)
        or 0 < protocol.maxMessagePayloadSize < len(payload)
    ):
        return False
    protocol.transport.write(frame_header(len(payload)) + payload)
    return True


class DaphneTransport:
    """A Daphne WebSocket connection as a `collab.outbox.ClientTransport`, with Twisted's back-pressure.

    A streaming producer registered on the connection (autobahn's `registerProducer`, Twisted's IPushProducer
    contract) is told to pause when the socket's write buffer passes Twisted's bound and to resume once it
    drained: while paused, `try_send` refuses, so frames wait in the connection's bounded outbox instead of
    piling up in Twisted's buffer.
    """

    def __init__(self, send: Callable, protocol) -> None:
        import asyncio

        self._send = send
        self._protocol = protocol
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.backpressure = False
        # An upgraded HTTP connection: Daphne's HTTPChannel stays the TCP transport's producer (Twisted allows one)
        # and hands the pause on to the producer registered with it, through its IConsumer interface.
        transport_producer = getattr(protocol.transport, "producer", None)
        consumer = transport_producer if hasattr(transport_producer, "registerProducer") else protocol
        try:
            consumer.registerProducer(self, True)
            self.backpressure = True
        except RuntimeError:  # another producer is registered: no pause signal for this connection
            logger.warning("no back-pressure signal for a WebSocket connection", exc_info=True)

    # IPushProducer
    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self._resumed.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self._resumed.set()

    def stopProducing(self) -> None:  # noqa: N802
        self._resumed.set()  # the connection is gone: nobody may wait for it

    # ClientTransport
    def try_send(self, frame: bytes) -> bool:
        """Write now (True), or send nothing (False) so that the outbox uses the ASGI send; on any failure of the
        shortcut the direct frames are switched off for this process and this frame too takes the ASGI send."""
        if not (self._resumed.is_set() and direct_frames_enabled()):
            return False
        try:
            return send_binary_frame(self._protocol, frame)
        except Exception:  # noqa: BLE001 - anything: the ASGI send is always correct, only slower
            enable_direct_frames(False)
            logger.exception("direct WebSocket frames failed; every frame takes the ASGI send from now on")
            return False

    async def send(self, frame: bytes) -> None:
        await self._send({"type": "websocket.send", "bytes": frame})

    async def writable(self) -> None:
        await self._resumed.wait()


class AsgiTransport:
    """Any other ASGI server's connection (or Channels' test communicator): awaited sends only."""

    def __init__(self, send: Callable) -> None:
        self._send = send

    def try_send(self, frame: bytes) -> bool:
        return False

    async def send(self, frame: bytes) -> None:
        await self._send({"type": "websocket.send", "bytes": frame})

    async def writable(self) -> None:
        return None


def client_transport(send: Callable) -> DaphneTransport | AsgiTransport:
    """The transport of a WebSocket connection's ASGI `send`: Daphne's own when it is one and direct frames are on."""
    protocol = _daphne_protocol(send) if direct_frames_enabled() else None
    if protocol is None:
        return AsgiTransport(send)
    try:
        return DaphneTransport(send, protocol)
    except Exception:  # noqa: BLE001 - Daphne's connection changed: this connection takes the ASGI send
        logger.exception("no direct frames for a WebSocket connection")
        return AsgiTransport(send)


def send_without_delay(send: Callable) -> bool:
    """Turn Nagle's algorithm off (TCP_NODELAY) on the socket of a Daphne WebSocket connection, so a small frame
    written right after another (a keystroke's update, an awareness change, a chat delta, a terminal's echo) goes
    out at once instead of waiting for the peer to acknowledge the previous one (Linux delays ACKs by up to 40 ms).
    Twisted leaves Nagle on; Node's `ws`, uvicorn and asyncio turn it off. Every consumer calls it once accepted.
    False when `send` is not Daphne's, or WS_TCP_NODELAY is off (to measure the difference)."""
    from django.conf import settings

    if not settings.WS_TCP_NODELAY:
        return False
    protocol = _daphne_protocol(send)
    set_no_delay = getattr(getattr(protocol, "transport", None), "setTcpNoDelay", None)
    if set_no_delay is None:
        return False
    set_no_delay(True)
    return True
