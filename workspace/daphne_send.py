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
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

BINARY_FINAL_FRAME = 0x82  # FIN bit + opcode 2


def frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final, binary frame carrying `length` payload bytes."""
    if length <= 125:
        return bytes((BINARY_FINAL_FRAME, length))
    if length <= 0xFFFF:
        return struct.pack("!BBH", BINARY_FINAL_FRAME, 126, length)
    return struct.pack("!BBQ", BINARY_FINAL_FRAME, 127, length)


def direct_binary_sender(send: Callable) -> Callable[[bytes], bool] | None:
    """For the ASGI `send` of a Daphne WebSocket connection: a function that sends one binary message now
    and returns True, or returns False (sending nothing) when the connection needs Daphne's own path."""
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    if not (isinstance(send, partial) and getattr(send.func, "__func__", None) is Server.handle_reply):
        return None
    protocol = send.args[0] if send.args else None
    if not isinstance(protocol, WebSocketProtocol):
        return None
    return partial(send_binary_frame, protocol)


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
