"""The WebSocket edge's hot path: direct-dispatch consumers, the read-only session auth stack, Twisted write-through."""

from __future__ import annotations

import asyncio
import json
import random
import select
import socket
import time

import channels.consumer
import pytest
from autobahn.exception import Disconnected
from channels.testing import WebsocketCommunicator
from django.conf import settings
from twisted.internet import tcp
from uvicorn.protocols.utils import ClientDisconnected
from websockets.asyncio.client import connect

from tests.support.helpers import login_session_key
from tests.support.wsjson import joined
from tests.support.yclient import YClient
from tests.support.ywebsockets import SocketYClient, burst_frames, room_url, slow_reader_socket
from workspace.asgi import application
from workspace.broadcast import abroadcast_to_workspace
from workspace.collab.access import CLOSE_UNAUTHENTICATED
from workspace.collab.consumers import YjsConsumer
from workspace.consumer_base import DirectDispatchWebsocketConsumer, ReadOnlySessionMiddleware, websocket_auth
from workspace.edge import twisted_writes
from workspace.edge.selfcheck import WriterRegistry
from workspace.realtime.consumers import WorkspaceConsumer

# --- Consumer base: direct dispatch ---------------------------------------------------------------------------------


@pytest.fixture
def channels_loop_calls(monkeypatch):
    """Record every `aclose_old_connections` Channels' dispatch would await, and every use of its receive loop."""
    calls: dict[str, list] = {"aclose_old_connections": [], "await_many_dispatch": []}

    async def record_aclose() -> None:
        calls["aclose_old_connections"].append(True)

    original_loop = channels.consumer.await_many_dispatch

    async def record_loop(consumer_callables, dispatch):
        calls["await_many_dispatch"].append(dispatch)
        return await original_loop(consumer_callables, dispatch)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", record_aclose)
    monkeypatch.setattr(channels.consumer, "await_many_dispatch", record_loop)
    return calls


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
async def test_yjs_frames_are_dispatched_without_closing_old_connections_per_frame(
    workspace_with_file, user, channels_loop_calls
):
    _, node = workspace_with_file
    writer = YClient(node.id, user=user)
    reader = YClient(node.id, user=user)
    try:
        assert await writer.connect() and await reader.connect()
        await writer.sync()
        await reader.sync()
        await writer.insert(0, "# direct\n")
        await reader.pump_until(lambda: str(reader.text) == "# direct\nprint('hi')\n")
    finally:
        await writer.close()
        await reader.close()
    assert channels_loop_calls["aclose_old_connections"] == []
    assert channels_loop_calls["await_many_dispatch"] == []  # the room socket has no channel: the direct loop


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
async def test_workspace_consumer_with_a_channel_layer_uses_channels_loop_and_receives_group_messages(
    workspace_with_file, user, channels_loop_calls
):
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    try:
        await abroadcast_to_workspace(workspace.id, "files.changed", {"n": 7})
        message = await client.wait_for(lambda m: m["type"] == "files.changed")
        assert message["n"] == 7
    finally:
        await client.close()
    [dispatch] = channels_loop_calls["await_many_dispatch"]
    assert dispatch.__func__ is DirectDispatchWebsocketConsumer.dispatch
    assert channels_loop_calls["aclose_old_connections"] == []


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "websocket.nonsense"}, "No handler for message type websocket.nonsense"),
        ({"bytes": b"\x00"}, "no 'type'"),
        ({"type": "_private.method"}, "leading underscore"),
    ],
    ids=["unknown-type", "missing-type", "leading-underscore"],
)
async def test_direct_dispatch_refuses_messages_without_a_handler_with_value_error(message, error):
    with pytest.raises(ValueError, match=error):
        await YjsConsumer().dispatch(message)


# --- Auth: websocket_auth / ReadOnlySessionMiddleware ---------------------------------------------------------------


@pytest.fixture
def session_key(user) -> str:
    return login_session_key(user)


def cookie_header(session_key: str) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())]


class StubApp:
    """An inner ASGI app that records what the middleware handed it."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, object, object]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append((scope, receive, send))


def websocket_scope(headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "websocket", "path": "/ws/test", "headers": headers}


@pytest.mark.embedded
async def test_read_only_session_middleware_loads_the_cookie_session_and_passes_send_through():
    inner = StubApp()
    receive, send = object(), object()
    scope = {"type": "websocket", "cookies": {settings.SESSION_COOKIE_NAME: "k3y0fa5ess10nthat1sl0ng"}}
    await ReadOnlySessionMiddleware(inner)(scope, receive, send)
    [(inner_scope, inner_receive, inner_send)] = inner.calls
    assert inner_send is send and inner_receive is receive
    assert inner_scope["session"].session_key == "k3y0fa5ess10nthat1sl0ng"
    assert "session" not in scope  # the caller's scope is not modified


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
async def test_websocket_auth_puts_the_logged_in_user_in_scope_and_passes_send_through(user, session_key):
    inner = StubApp()
    receive, send = object(), object()
    await websocket_auth(inner)(websocket_scope(cookie_header(session_key)), receive, send)
    [(scope, inner_receive, inner_send)] = inner.calls
    assert inner_send is send and inner_receive is receive
    assert scope["session"].session_key == session_key
    assert scope["user"].is_authenticated and scope["user"].pk == user.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("cookie", ["absent", "unknown"])
async def test_websocket_auth_gives_anonymous_user_without_a_valid_session_cookie(user, cookie):
    inner = StubApp()
    headers = [] if cookie == "absent" else cookie_header("n0such5ess10nkeyatall0000000000")
    await websocket_auth(inner)(websocket_scope(headers), object(), object())
    [(scope, _, _)] = inner.calls
    assert not scope["user"].is_authenticated


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
async def test_session_cookie_authenticates_yjs_and_workspace_sockets_through_the_asgi_app(
    workspace_with_file, user, session_key
):
    workspace, node = workspace_with_file
    yjs = YClient(node.id, headers=cookie_header(session_key))
    channel = WebsocketCommunicator(application, f"/ws/workspace/{workspace.id}", headers=cookie_header(session_key))
    try:
        assert await yjs.connect()
        await yjs.sync()
        assert str(yjs.text) == "print('hi')\n"
        connected, _ = await channel.connect()
        assert connected
        hello = json.loads((await asyncio.wait_for(channel.output_queue.get(), 3))["text"])
        assert hello["type"] == "hello"
        assert hello["user"]["id"] == user.id and hello["user"]["username"] == "alice"
    finally:
        await yjs.close()
        await channel.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("cookie", ["absent", "unknown"])
async def test_yjs_socket_without_a_valid_session_cookie_is_closed_unauthenticated(workspace_with_file, cookie):
    _, node = workspace_with_file
    headers = [] if cookie == "absent" else cookie_header("n0such5ess10nkeyatall0000000000")
    client = YClient(node.id, headers=headers)
    try:
        assert await client.connect()
        with pytest.raises(ConnectionError):
            await client.pump_until(lambda: False, timeout=2)
        assert client.closed_code == CLOSE_UNAUTHENTICATED
    finally:
        await client.close()


# --- Twisted write-through: unit level ------------------------------------------------------------------------------


class StandInSocket:
    """Takes at most `accept` bytes per send (all when None), or raises `error`."""

    def __init__(self, accept: int | None = None, error: BaseException | None = None) -> None:
        self.accept = accept
        self.error = error
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        taken = bytes(data if self.accept is None else data[: self.accept])
        self.sent.append(taken)
        return len(taken)


class StandInConnection:
    """The attributes of twisted.internet.tcp.Connection that `_write_through` reads, for an idle open connection."""

    TLS = False

    def __init__(self, sock: StandInSocket) -> None:
        self.socket = sock
        self.connected = 1
        self.disconnecting = False
        self._writeDisconnected = False
        self.dataBuffer = b""
        self._tempDataBuffer: list[bytes] = []


@pytest.fixture
def buffered(monkeypatch) -> list[bytes]:
    """What `_write_through` hands to Twisted's buffered write, in order."""
    calls: list[bytes] = []
    monkeypatch.setattr(twisted_writes, "_buffered_write", lambda connection, data: calls.append(data))
    return calls


@pytest.mark.embedded
def test_idle_connection_sends_a_write_at_once_and_buffers_nothing(buffered):
    connection = StandInConnection(StandInSocket())
    twisted_writes._write_through(connection, b"frame")
    assert connection.socket.sent == [b"frame"]
    assert buffered == []


@pytest.mark.embedded
def test_partial_send_buffers_only_the_unsent_remainder(buffered):
    connection = StandInConnection(StandInSocket(accept=3))
    twisted_writes._write_through(connection, b"abcdefgh")
    assert connection.socket.sent == [b"abc"]
    assert buffered == [b"defgh"]


@pytest.mark.embedded
@pytest.mark.parametrize(
    "error",
    [BlockingIOError(), InterruptedError(), BrokenPipeError(), ConnectionResetError()],
    ids=lambda error: type(error).__name__,
)
def test_send_that_takes_nothing_or_fails_buffers_all_data(buffered, error):
    connection = StandInConnection(StandInSocket(error=error))
    twisted_writes._write_through(connection, b"abcdefgh")
    assert buffered == [b"abcdefgh"]


@pytest.mark.embedded
@pytest.mark.parametrize("queued", ["dataBuffer", "_tempDataBuffer"])
def test_write_behind_already_buffered_data_is_not_sent_directly(buffered, queued):
    connection = StandInConnection(StandInSocket())
    setattr(connection, queued, b"earlier" if queued == "dataBuffer" else [b"earlier"])
    twisted_writes._write_through(connection, b"later")
    assert connection.socket.sent == []
    assert buffered == [b"later"]


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("attribute", "value", "data"),
    [
        ("TLS", True, b"frame"),
        ("disconnecting", True, b"frame"),
        ("_writeDisconnected", True, b"frame"),
        ("connected", 0, b"frame"),
        (None, None, b""),
    ],
    ids=["tls", "disconnecting", "write-disconnected", "not-connected", "empty-write"],
)
def test_tls_closing_closed_and_empty_writes_keep_twisted_buffered_path(buffered, attribute, value, data):
    connection = StandInConnection(StandInSocket())
    if attribute is not None:
        setattr(connection, attribute, value)
    twisted_writes._write_through(connection, data)
    assert connection.socket.sent == []
    assert buffered == [data]


@pytest.mark.embedded
def test_install_is_idempotent_and_keeps_twisted_write_as_the_buffered_path(monkeypatch):
    monkeypatch.setattr(tcp.Connection, "write", twisted_writes._buffered_write)
    twisted_writes.install()
    twisted_writes.install()
    assert tcp.Connection.write is twisted_writes._write_through
    assert twisted_writes._buffered_write is not twisted_writes._write_through
    assert twisted_writes._buffered_write.__qualname__ == "ConnectionMixin.write"


def tcp_pair(buffer_bytes: int) -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair whose kernel buffers hold about `buffer_bytes` each way."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
    client.setblocking(False)
    return server, client


@pytest.mark.embedded
def test_real_twisted_connection_sends_idle_writes_at_once_and_drains_the_rest_in_order(monkeypatch):
    monkeypatch.setattr(tcp.Connection, "write", twisted_writes._write_through)
    server, peer = tcp_pair(64 * 1024)
    reactor = WriterRegistry()
    connection = tcp.Connection(server, None, reactor)
    connection.connected = 1
    big = random.Random(1).randbytes(2 * 1024 * 1024)
    received = bytearray()
    try:
        connection.write(b"hello")
        assert select.select([peer], [], [], 2)[0]  # on the wire without a reactor turn
        assert peer.recv(100) == b"hello"
        assert connection not in reactor.writers
        connection.write(big)
        queued = sum(map(len, connection._tempDataBuffer))
        assert 0 < queued < len(big)  # the kernel took a part at once; only the rest waits for the reactor
        assert connection in reactor.writers
        connection.write(b"tail")  # behind queued data: must not overtake it
        rest = big + b"tail"
        deadline = time.monotonic() + 10
        while len(received) < len(rest) and time.monotonic() < deadline:  # the reactor's part, by hand
            select.select([peer], [server] if connection in reactor.writers else [], [], 0.5)
            try:
                received += peer.recv(1024 * 1024)
            except BlockingIOError:
                pass
            if connection in reactor.writers:
                assert connection.doWrite() is None
        assert bytes(received) == rest
        assert connection not in reactor.writers and connection.dataBuffer == b""
    finally:
        server.close()
        peer.close()


# --- Twisted write-through: end to end through Daphne ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_burst_of_megabytes_reaches_a_slow_reading_client_byte_identical(
    live_server_url, workspace_with_file, user
):
    """A burst of ~800 KB update frames (Daphne accepts at most 1 MiB per incoming message), several MB more than
    the kernel will buffer for a client that does not read meanwhile: once its socket is full, a fan-out write
    goes partly to the kernel and the rest to Twisted's buffer, later frames queue behind it, and everything
    must arrive complete and in order."""
    _, node = workspace_with_file
    url = room_url(live_server_url, node.id, user.id)
    chunks = [random.Random(seed).randbytes(400_000).hex() for seed in range(burst_frames(800_000))]
    expected = "print('hi')\n" + "".join(chunks)
    sock = await slow_reader_socket(url, 32 * 1024)
    async with (
        connect(url, max_size=None) as writer_ws,
        connect(url, max_size=None, max_queue=1, sock=sock) as reader_ws,
    ):
        writer, reader = SocketYClient(writer_ws), SocketYClient(reader_ws)
        await writer.sync()
        await reader.sync()
        assert str(reader.text) == "print('hi')\n"
        for chunk in chunks:  # the reader reads nothing while the burst goes out
            await writer.append(chunk)
        await writer.sync()
        await asyncio.sleep(0.5)
        await reader.read_until(lambda: len(str(reader.text)) >= len(expected))
        assert str(reader.text).encode() == expected.encode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_client_joining_a_document_over_one_mib_receives_all_of_it(live_server_url, workspace_with_file, user):
    _, node = workspace_with_file
    url = room_url(live_server_url, node.id, user.id)
    chunks = [random.Random(seed).randbytes(300_000).hex() for seed in range(2)]  # 2 x 600 KB frames, each accepted
    expected = "print('hi')\n" + "".join(chunks)
    async with connect(url, max_size=None) as writer_ws:
        writer = SocketYClient(writer_ws)
        await writer.sync()
        for chunk in chunks:
            await writer.append(chunk)
        await writer.sync()
        assert str(writer.text) == expected
    async with connect(url, max_size=None) as late_ws:
        late = SocketYClient(late_ws)
        await late.sync()
        assert str(late.text).encode() == expected.encode()


@pytest.mark.embedded
@pytest.mark.parametrize("consumer_class", [YjsConsumer, WorkspaceConsumer])
@pytest.mark.parametrize("error", [Disconnected, ClientDisconnected], ids=["daphne", "uvicorn"])
async def test_a_send_to_a_client_whose_close_began_is_dropped_not_raised(consumer_class, error):
    """Daphne raises Disconnected between the close handshake and `websocket.disconnect` (uvicorn an OSError, as the
    ASGI spec asks); in a group-message handler that ended the consumer before `disconnect` could leave its groups
    and the presence list."""
    sent = []

    async def closing_send(message: dict) -> None:
        sent.append(message)
        raise error("Attempt to send on a closed protocol")

    consumer = consumer_class()
    consumer.base_send = closing_send
    await consumer.send(text_data='{"type": "late"}')
    await consumer.send(bytes_data=b"\x00")
    assert [message["type"] for message in sent] == ["websocket.send", "websocket.send"]
