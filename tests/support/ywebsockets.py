"""Real-socket y-websocket clients for live-server tests: pycrdt's stock `Provider` over a `websockets` connection.

pycrdt-websocket 0.16 ships only an httpx-ws channel adapter (`HttpxWebsocket`); this is the same
`pycrdt.Channel` protocol over the `websockets` library, so the unmodified pycrdt Provider can use it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import asynccontextmanager

from pycrdt import Doc, Provider, Text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from workspace.collab import protocol
from workspace.collab.tokens import issue_token


class WebsocketsChannel:
    """A pycrdt `Channel` over a `websockets` client connection (binary frames only)."""

    def __init__(self, websocket: ClientConnection, path: str) -> None:
        self._websocket = websocket
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> WebsocketsChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        await self._websocket.send(message)

    async def recv(self) -> bytes:
        while True:
            message = await self._websocket.recv()
            if isinstance(message, bytes):
                return message


def room_url(live_server_url: str, file_id: int, user_id: int) -> str:
    base = live_server_url.replace("http://", "ws://", 1)
    return f"{base}/ws/yjs/{file_id}?token={issue_token(user_id, file_id)}"


@asynccontextmanager
async def provider_client(url: str, doc: Doc | None = None):
    """Yield the Y.Text `content` of a pycrdt doc kept in sync with the room at `url`."""
    doc = doc if doc is not None else Doc()
    text = doc.get("content", type=Text)
    async with connect(url, max_size=None) as websocket, Provider(doc, WebsocketsChannel(websocket, url)) as provider:
        await asyncio.wait_for(provider.synced.wait(), 10)
        yield text


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


class SocketYClient:
    """A y-websocket client over a real socket (`websockets`), backed by a pycrdt doc."""

    def __init__(self, websocket) -> None:
        self.websocket = websocket
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.synced = False

    async def read_one(self, timeout: float) -> None:
        frame = await asyncio.wait_for(self.websocket.recv(), timeout)
        if not isinstance(frame, bytes):
            return
        message = protocol.decode(frame)
        if message.kind != protocol.MESSAGE_SYNC:
            return
        if message.sub_kind == protocol.SYNC_STEP1:
            await self.websocket.send(protocol.sync_step2(self.doc.get_update(message.payload)))
            return
        self.doc.apply_update(message.payload)
        if message.sub_kind == protocol.SYNC_STEP2:
            self.synced = True

    async def read_until(self, condition, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("condition not reached")
            await self.read_one(remaining)

    async def sync(self) -> None:
        """Round-trip a sync step 1; the server handles frames in order, so all sent before is applied after."""
        self.synced = False
        await self.websocket.send(protocol.sync_step1(self.doc.get_state()))
        await self.read_until(lambda: self.synced)

    async def append(self, content: str) -> None:
        before = self.doc.get_state()
        self.text.insert(len(self.text), content)
        await self.websocket.send(protocol.sync_update(self.doc.get_update(before)))


def burst_frames(frame_bytes: int) -> int:
    """Enough frames to outgrow what the kernel may buffer for one socket (tcp_wmem max) plus what the paused
    reader holds (about two frames) by a wide margin: the server's later writes cannot all go to the kernel."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            kernel_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        kernel_max = 4 * 1024 * 1024
    return -(-(kernel_max + 3 * 1024 * 1024) // frame_bytes)


async def slow_reader_socket(url: str, receive_buffer: int) -> socket.socket:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return sock
