"""Write-through for Twisted TCP transports, as asyncio's own transports do it.

Twisted buffers every `transport.write()` and sends it when the reactor reports the socket writable:
per WebSocket frame that is an epoll registration, a wake-up, the send and a deregistration. Under
fan-out (one Yjs update to 20 clients) that bookkeeping was a third of Daphne's loop in a py-spy profile. Here an
idle connection (nothing buffered) tries the socket at once and buffers only what the kernel did not
take; ordering is unchanged because data is sent directly only when nothing is queued before it.
TLS connections, and connections that are closing, keep Twisted's buffered path.

It reads private attributes of `tcp.Connection`, so `workspace.edge.install` installs it only after the self-check
saw it work on the installed Twisted; should any of those reads fail later, that write (and every later one) takes
Twisted's buffered path, so no data is lost for the shortcut.
"""

from __future__ import annotations

import logging

from twisted.internet import tcp

logger = logging.getLogger(__name__)

_buffered_write = tcp.Connection.write


def _idle_and_open(connection: tcp.Connection) -> bool:
    """Nothing buffered, plain TCP, open: data may go to the socket now. False (buffered path) if Twisted changed."""
    try:
        return bool(
            not connection.TLS
            and connection.connected
            and not connection.disconnecting
            and not connection._writeDisconnected
            and not connection.dataBuffer
            and not connection._tempDataBuffer
        )
    except AttributeError:
        uninstall()
        logger.exception("Twisted's connection changed; writes take Twisted's buffered path from now on")
        return False


def _write_through(self: tcp.Connection, data: bytes) -> None:
    if data and _idle_and_open(self):
        try:
            sent = self.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # a dead socket: the buffered path's doWrite reports the loss through connectionLost
        if sent == len(data):
            return
        data = data[sent:]
    _buffered_write(self, data)


def install() -> None:
    """Idempotent; only Daphne's process has Twisted connections, elsewhere this changes nothing."""
    if tcp.Connection.write is not _write_through:
        tcp.Connection.write = _write_through


def uninstall() -> None:
    """Twisted's own write again (idempotent)."""
    if tcp.Connection.write is _write_through:
        tcp.Connection.write = _buffered_write
