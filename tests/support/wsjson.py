"""A JSON client for the workspace channel over a Channels WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import json

from channels.testing import WebsocketCommunicator

from workspace.asgi import application


class WorkspaceClient:
    def __init__(self, workspace_id: int, user=None) -> None:
        self.comm = WebsocketCommunicator(application, f"/ws/workspace/{workspace_id}")
        if user is not None:
            self.comm.scope["user"] = user
        self.closed_code: int | None = None
        self.seen: list[dict] = []

    async def connect(self) -> None:
        connected, _ = await self.comm.connect()
        assert connected

    async def send(self, message: dict) -> None:
        await self.comm.send_to(text_data=json.dumps(message))

    async def next(self, timeout: float = 3.0) -> dict | None:
        """The next message, or None once the server closed. Never cancels the app on timeout."""
        output = await asyncio.wait_for(self.comm.output_queue.get(), timeout)
        if output["type"] == "websocket.close":
            self.closed_code = output.get("code")
            return None
        message = json.loads(output["text"])
        self.seen.append(message)
        return message

    async def wait_for(self, predicate, timeout: float = 3.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no matching message; saw {self.seen[-5:]}")
            message = await self.next(remaining)
            if message is None:
                raise ConnectionError(f"closed with {self.closed_code}")
            if predicate(message):
                return message

    async def request(self, message: dict, timeout: float = 3.0) -> dict:
        """Send a message with a request id and return its `.ok` or `error` reply."""
        request_id = f"r{id(message)}"
        await self.send({**message, "request_id": request_id})
        return await self.wait_for(lambda m: m.get("request_id") == request_id, timeout)

    async def close(self) -> None:
        await self.comm.disconnect()


async def joined(workspace, user) -> WorkspaceClient:
    """A connected client of the workspace's channel, past its hello."""
    client = WorkspaceClient(workspace.id, user)
    await client.connect()
    await client.wait_for(lambda m: m["type"] == "hello")
    return client
