"""Direct binary sends on Daphne connections: byte-identical to autobahn's, refused in every other state."""

from __future__ import annotations

import asyncio
import base64
from functools import partial

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from pycrdt import Doc, Text
from twisted.internet.testing import StringTransport
from websockets.asyncio.client import connect

from tests.support.ywebsockets import room_url
from workspace.collab import protocol
from workspace.edge.daphne_send import direct_binary_sender, frame_header, send_binary_frame, send_without_delay

pytestmark = pytest.mark.embedded

HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture
def open_protocol() -> tuple[WebSocketServerProtocol, StringTransport]:
    """A real autobahn server protocol after a real handshake, writing to an in-memory transport."""
    factory = WebSocketServerFactory("ws://localhost")
    factory.protocol = WebSocketServerProtocol
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(HANDSHAKE)
    assert proto.state == proto.STATE_OPEN
    transport.clear()
    return proto, transport


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_direct_frame_is_byte_identical_to_autobahns_send_message(open_protocol, size):
    proto, transport = open_protocol
    payload = bytes(i % 251 for i in range(size))
    proto.sendMessage(payload, isBinary=True)
    by_autobahn = transport.value()
    transport.clear()
    assert send_binary_frame(proto, payload) is True
    assert transport.value() == by_autobahn
    assert transport.value().startswith(frame_header(size))


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("autoFragmentSize", 10),
        ("maxMessagePayloadSize", 10),
        ("maskServerFrames", True),
        ("logFrames", True),
        ("logOctets", True),
        ("_perMessageCompress", object()),
        ("send_queue", [(b"queued", True)]),
    ],
)
def test_connection_that_needs_autobahns_own_path_gets_nothing_written(open_protocol, attribute, value):
    proto, transport = open_protocol
    setattr(proto, attribute, value)
    assert send_binary_frame(proto, b"x" * 64) is False
    assert transport.value() == b""


def test_connection_that_is_closing_or_closed_gets_nothing_written(open_protocol):
    proto, transport = open_protocol
    proto.sendClose(code=1000)
    transport.clear()
    assert send_binary_frame(proto, b"late") is False
    assert transport.value() == b""


def test_only_daphnes_own_send_gets_a_direct_sender():
    async def other_send(message: dict) -> None:
        return None

    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not started
    daphne_protocol = WebSocketProtocol()
    assert direct_binary_sender(partial(server.handle_reply, daphne_protocol)) is not None
    assert direct_binary_sender(other_send) is None
    assert direct_binary_sender(partial(other_send)) is None
    assert direct_binary_sender(partial(server.handle_reply, object())) is None


def test_a_daphne_connection_gets_nagles_algorithm_turned_off_and_other_sends_are_left_alone():
    class TcpTransport:
        no_delay = False

        def setTcpNoDelay(self, enabled: bool) -> None:  # noqa: N802 - Twisted's interface
            self.no_delay = enabled

    async def other_send(message: dict) -> None:
        return None

    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not started
    daphne_protocol = WebSocketProtocol()
    daphne_protocol.transport = TcpTransport()
    assert send_without_delay(partial(server.handle_reply, daphne_protocol)) is True
    assert daphne_protocol.transport.no_delay is True
    assert send_without_delay(other_send) is False


def test_nagles_algorithm_is_left_on_when_the_operator_says_so(settings):
    class TcpTransport:
        no_delay = False

        def setTcpNoDelay(self, enabled: bool) -> None:  # noqa: N802 - Twisted's interface
            self.no_delay = enabled

    settings.WS_TCP_NODELAY = False
    daphne_protocol = WebSocketProtocol()
    daphne_protocol.transport = TcpTransport()
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not started
    assert send_without_delay(partial(server.handle_reply, daphne_protocol)) is False
    assert daphne_protocol.transport.no_delay is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_updates_of_every_frame_header_size_reach_the_other_client_as_sent(
    live_server_url, workspace_with_file, user
):
    """Through a live Daphne: updates framed with 7-bit, 16-bit and 64-bit lengths arrive byte-identical."""
    _, node = workspace_with_file
    url = room_url(live_server_url, node.id, user.id)
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
