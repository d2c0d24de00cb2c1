"""The start-up self-check of the WebSocket edge's two shortcuts, on the Twisted, autobahn and Daphne installed.

Both shortcuts read private attributes of those libraries (pinned exactly in requirements.txt for that reason).
Before either is switched on, each is run here once against the real classes, without a network or a reactor:
- write-through: a real `tcp.Connection` over a local socket pair must send an idle write at once, and queue a
  write behind buffered data instead of sending it;
- direct frames: a real autobahn server protocol after a real handshake must get from `send_binary_frame` exactly
  the bytes autobahn's own `sendMessage` writes, for every header size, and nothing once it is closing; and a
  Daphne connection's `send` must be recognised as one.
Each check returns None when the shortcut works, else why not (the shortcut then stays off; nothing else changes).
"""

from __future__ import annotations

import base64
import socket
from functools import partial

HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
FRAME_SIZES = (0, 125, 126, 65535, 65536)


class WriterRegistry:
    """The writer registry a FileDescriptor talks to, recording who asked to be told of writability (no reactor
    runs: the self-check and the tests drive a connection by hand)."""

    def __init__(self) -> None:
        self.writers: set = set()

    def addWriter(self, writer) -> None:  # noqa: N802 - Twisted's interface
        self.writers.add(writer)

    def removeWriter(self, writer) -> None:  # noqa: N802
        self.writers.discard(writer)

    def addReader(self, reader) -> None:  # noqa: N802
        pass

    def removeReader(self, reader) -> None:  # noqa: N802
        pass


def write_through_problem() -> str | None:
    """None when `twisted_writes._write_through` behaves on this Twisted, else what went wrong."""
    from twisted.internet import tcp

    from workspace.edge import twisted_writes

    ours, peer = socket.socketpair()
    try:
        reactor = WriterRegistry()
        connection = tcp.Connection(ours, None, reactor)
        connection.connected = 1
        twisted_writes._write_through(connection, b"idle")
        if connection in reactor.writers or peer.recv(16) != b"idle":
            return "an idle write was not sent at once"
        twisted_writes._buffered_write(connection, b"queued")  # Twisted's own write: buffered until writable
        buffered = connection.dataBuffer or connection._tempDataBuffer
        twisted_writes._write_through(connection, b"behind")
        if not buffered or connection._tempDataBuffer[-1:] != [b"behind"]:
            return "a write behind buffered data was not queued behind it"
    except Exception as exc:  # noqa: BLE001 - whatever it is, the shortcut stays off
        return f"{type(exc).__name__}: {exc}"
    finally:
        ours.close()
        peer.close()
    return None


def direct_frames_problem() -> str | None:
    """None when `daphne_send` frames exactly as autobahn and recognises Daphne's connections, else what went wrong."""
    try:
        from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
        from twisted.internet.testing import StringTransport

        from workspace.edge.daphne_send import _daphne_protocol, send_binary_frame

        factory = WebSocketServerFactory("ws://localhost")
        factory.protocol = WebSocketServerProtocol
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(HANDSHAKE)
        if protocol.state != protocol.STATE_OPEN:
            return "autobahn's handshake did not open the connection"
        for size in FRAME_SIZES:
            payload = bytes(i % 251 for i in range(size))
            transport.clear()
            protocol.sendMessage(payload, isBinary=True)
            by_autobahn = transport.value()
            transport.clear()
            if not send_binary_frame(protocol, payload) or transport.value() != by_autobahn:
                return f"a {size}-byte frame differs from autobahn's"
        protocol.sendClose(code=1000)
        transport.clear()
        if send_binary_frame(protocol, b"late") or transport.value():
            return "a closing connection was written to"
        server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # never started
        daphne_connection = WebSocketProtocol()
        if _daphne_protocol(partial(server.handle_reply, daphne_connection)) is not daphne_connection:
            return "Daphne's send was not recognised"
    except Exception as exc:  # noqa: BLE001 - whatever it is, the shortcut stays off
        return f"{type(exc).__name__}: {exc}"
    return None
