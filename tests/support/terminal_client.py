"""A client of the terminal socket (/ws/terminal/<workspace_id>) over a Channels WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import json

from channels.testing import WebsocketCommunicator

from workspace.asgi import application


class TerminalSocket:
    def __init__(self, workspace_id: int, user=None) -> None:
        self.comm = WebsocketCommunicator(application, f"/ws/terminal/{workspace_id}")
        if user is not None:
            self.comm.scope["user"] = user
        self.closed_code: int | None = None
        self.controls: list[dict] = []
        self.output: dict[int, bytearray] = {}

    async def connect(self) -> None:
        connected, _ = await self.comm.connect()
        assert connected

    async def send(self, message: dict) -> None:
        await self.comm.send_to(text_data=json.dumps(message))

    async def type(self, terminal: int, text: str) -> None:
        await self.send({"type": "input", "terminal": terminal, "data": text})

    async def next(self, timeout: float) -> bool:
        """Take one frame; False once the server closed. Never cancels the app on timeout."""
        frame = await asyncio.wait_for(self.comm.output_queue.get(), timeout)
        if frame["type"] == "websocket.close":
            self.closed_code = frame.get("code")
            return False
        data = frame["bytes"]
        if data[:1] == b"O":
            self.output.setdefault(int.from_bytes(data[1:5], "big"), bytearray()).extend(data[5:])
        else:
            message = json.loads(data[1:])
            if message["type"] == "replay":
                self.output[message["terminal"]] = bytearray()
            self.controls.append(message)
        return True

    async def control(self, predicate, timeout: float = 10.0) -> dict:
        """The first control message (seen already or arriving) matching `predicate`."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while True:
            for message in self.controls[seen:]:
                if predicate(message):
                    return message
            seen = len(self.controls)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no matching control message; saw {self.controls[-5:]}")
            if not await self.next(remaining):
                raise ConnectionError(f"closed with {self.closed_code}")

    async def output_contains(self, terminal: int, needle: bytes, timeout: float = 10.0) -> bytes:
        deadline = asyncio.get_running_loop().time() + timeout
        while needle not in self.output.get(terminal, b""):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{needle!r} not in the output: {bytes(self.output.get(terminal, b''))[-400:]!r}")
            if not await self.next(remaining):
                raise ConnectionError(f"closed with {self.closed_code}")
        return bytes(self.output[terminal])

    async def open_terminal(self, cols: int = 80, rows: int = 24) -> int:
        await self.send({"type": "open", "cols": cols, "rows": rows})
        opened = await self.control(lambda m: m["type"] in ("opened", "error"), timeout=20)
        assert opened["type"] == "opened", opened
        terminal = opened["terminal"]["id"]
        await self.output_contains(terminal, b"$ ")
        return terminal

    async def close(self) -> None:
        await self.comm.disconnect()


async def connected(workspace_id: int, user) -> TerminalSocket:
    socket = TerminalSocket(workspace_id, user)
    await socket.connect()
    await socket.control(lambda m: m["type"] == "hello")
    return socket
