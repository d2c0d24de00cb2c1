"""Real-socket y-websocket clients for live-server tests: pycrdt's stock `Provider` over a `websockets` connection.

pycrdt-websocket 0.16 ships only an httpx-ws channel adapter (`HttpxWebsocket`); this is the same
`pycrdt.Channel` protocol over the `websockets` library, so the unmodified pycrdt Provider can use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager

from pycrdt import Doc, Provider, Text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

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
