"""The WebSocket edge's shortcuts under Daphne (workspace/edge/): switched on only by a passing start-up self-check,
and on any failure later a write takes Twisted's buffered path and a frame the ASGI send: nothing is dropped."""

from __future__ import annotations

import asyncio
import base64
from functools import partial

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from pycrdt import Doc, Text
from twisted.internet import tcp
from twisted.internet.testing import StringTransport
from websockets.asyncio.client import connect

from tests.support.live import daphne_server
from tests.support.ywebsockets import room_url
from workspace import edge
from workspace.collab import protocol
from workspace.collab.outbox import ClientOutbox
from workspace.edge import daphne_send, selfcheck, twisted_writes
from workspace.edge.daphne_send import AsgiTransport, DaphneTransport, client_transport

HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture
def edge_state(monkeypatch):
    """Whatever a test switches, Twisted's write and the direct frames are as before afterwards."""
    monkeypatch.setattr(tcp.Connection, "write", tcp.Connection.write)
    monkeypatch.setattr(daphne_send, "_direct_frames", dict(daphne_send._direct_frames))


@pytest.fixture
def open_protocol() -> tuple[WebSocketServerProtocol, StringTransport]:
    """A real autobahn server protocol after a real handshake, writing to an in-memory transport."""
    factory = WebSocketServerFactory("ws://localhost")
    factory.protocol = WebSocketServerProtocol
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(HANDSHAKE)
    transport.clear()
    return proto, transport


def daphne_asgi_send():
    """The ASGI `send` Daphne gives a WebSocket connection (its server never started, its transport in memory)."""
    connection = WebSocketProtocol()
    connection.transport = StringTransport()
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    return partial(server.handle_reply, connection)


# --- Start-up self-check --------------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_self_check_passes_on_the_pinned_libraries_and_switches_both_shortcuts_on(edge_state):
    assert edge.install() == edge.EdgeShortcuts(write_through=None, direct_frames=None)
    assert tcp.Connection.write is twisted_writes._write_through
    assert edge.direct_frames_enabled()
    assert isinstance(client_transport(daphne_asgi_send()), DaphneTransport)


@pytest.mark.embedded
def test_setting_keeps_both_shortcuts_off_and_daphne_connections_on_the_asgi_send(edge_state, settings):
    edge.install()
    settings.WS_EDGE_SHORTCUTS = False
    shortcuts = edge.install()
    assert shortcuts.write_through and shortcuts.direct_frames
    assert tcp.Connection.write is twisted_writes._buffered_write
    assert not edge.direct_frames_enabled()
    assert isinstance(client_transport(daphne_asgi_send()), AsgiTransport)


@pytest.mark.embedded
def test_direct_frames_whose_bytes_differ_from_autobahns_stay_off_and_write_through_still_goes_on(
    edge_state, monkeypatch
):
    def misframed(protocol, payload: bytes) -> bool:
        protocol.transport.write(b"\x81" + bytes([len(payload)]) + payload)  # a text frame: not autobahn's bytes
        return True

    monkeypatch.setattr(daphne_send, "send_binary_frame", misframed)
    shortcuts = edge.install()
    assert shortcuts.direct_frames == "a 0-byte frame differs from autobahn's"
    assert shortcuts.write_through is None and tcp.Connection.write is twisted_writes._write_through
    assert not edge.direct_frames_enabled()


@pytest.mark.embedded
def test_a_renamed_private_attribute_fails_the_self_check_instead_of_a_send(monkeypatch):
    """As if autobahn renamed what `send_binary_frame` reads: the check reports it, it does not raise."""
    original = WebSocketServerProtocol._connectionMade

    def without_compression_attribute(self) -> None:
        original(self)
        del self._perMessageCompress

    monkeypatch.setattr(WebSocketServerProtocol, "_connectionMade", without_compression_attribute)
    assert "_perMessageCompress" in selfcheck.direct_frames_problem()


@pytest.mark.embedded
def test_write_through_that_does_not_send_at_once_stays_off(edge_state, monkeypatch):
    monkeypatch.setattr(twisted_writes, "_idle_and_open", lambda connection: False)
    shortcuts = edge.install()
    assert shortcuts.write_through == "an idle write was not sent at once"
    assert tcp.Connection.write is twisted_writes._buffered_write
    assert shortcuts.direct_frames is None


# --- Fallback after a failure ---------------------------------------------------------------------------------------


@pytest.mark.embedded
async def test_a_failing_direct_frame_goes_through_the_asgi_send_in_order_and_switches_direct_frames_off(
    edge_state, open_protocol
):
    proto, transport = open_protocol
    sent: list[dict] = []

    async def asgi_send(message: dict) -> None:
        sent.append(message)

    daphne_send.enable_direct_frames(True)
    client = DaphneTransport(asgi_send, proto)
    overflows: list[bool] = []
    outbox = ClientOutbox(client, 1024 * 1024, lambda: overflows.append(True))
    outbox.push(b"first")  # written directly
    del proto._perMessageCompress  # autobahn changed under the running server
    outbox.push(b"second")
    outbox.push(b"third")
    await outbox.flushed()
    assert transport.value().endswith(b"first")
    assert [message["bytes"] for message in sent] == [b"second", b"third"]
    assert all(message["type"] == "websocket.send" for message in sent)
    assert not edge.direct_frames_enabled() and not overflows
    outbox.push(b"fourth")  # from now on the ASGI send, without trying the shortcut
    await outbox.flushed()
    assert sent[-1]["bytes"] == b"fourth"


@pytest.mark.embedded
def test_a_daphne_connection_whose_producer_cannot_be_registered_gets_the_asgi_send(edge_state):
    daphne_send.enable_direct_frames(True)
    send = daphne_asgi_send()
    send.args[0].transport = None  # as if Daphne's connection had changed shape
    assert isinstance(client_transport(send), AsgiTransport)


class ChangedConnection:
    """A Twisted connection as if a later Twisted had renamed `_tempDataBuffer`."""

    TLS = False
    connected = 1
    disconnecting = False
    _writeDisconnected = False
    dataBuffer = b""


@pytest.mark.embedded
def test_write_through_on_a_changed_twisted_connection_buffers_the_write_and_uninstalls_itself(edge_state, monkeypatch):
    buffered: list[bytes] = []
    monkeypatch.setattr(twisted_writes, "_buffered_write", lambda connection, data: buffered.append(data))
    twisted_writes.install()
    twisted_writes._write_through(ChangedConnection(), b"frame")
    assert buffered == [b"frame"]
    assert tcp.Connection.write is not twisted_writes._write_through


# --- Live: Daphne with the shortcuts off -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shortcuts_off_url(live_server_url):
    with daphne_server(WS_EDGE_SHORTCUTS="0") as url:
        yield url


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_daphne_with_the_shortcuts_off_delivers_every_frame_size_through_the_asgi_send(
    shortcuts_off_url, workspace_with_file, user
):
    _, node = workspace_with_file
    url = room_url(shortcuts_off_url, node.id, user.id)
    async with connect(url, max_size=None) as sender, connect(url, max_size=None) as receiver:
        doc = Doc()
        text = doc.get("content", type=Text)
        sent = []
        for size in (10, 200, 70_000):
            before = doc.get_state()
            text.insert(len(text), "x" * size)
            sent.append(protocol.sync_update(doc.get_update(before)))
        for frame in sent:
            await sender.send(frame)
        received = []
        while len(received) < len(sent):
            message = await asyncio.wait_for(receiver.recv(), 10)
            if message[:2] == bytes([protocol.MESSAGE_SYNC, protocol.SYNC_UPDATE]):
                received.append(message)
        assert received == sent
