"""A minimal y-websocket client over a Channels WebsocketCommunicator, backed by a pycrdt Doc."""

from __future__ import annotations

import asyncio
import json

from channels.testing import WebsocketCommunicator
from pycrdt import Doc, Text

from workspace.asgi import application
from workspace.collab import protocol


class YClient:
    def __init__(self, file_id: int, *, user=None, token: str | None = None, headers=None) -> None:
        path = f"/ws/yjs/{file_id}" + (f"?token={token}" if token else "")
        self.comm = WebsocketCommunicator(application, path, headers=headers or [])
        if user is not None:
            self.comm.scope["user"] = user
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.denied: list[str] = []
        self.awareness: dict[int, str] = {}
        self.closed_code: int | None = None
        self._outgoing: list[bytes] = []
        self.doc.observe(self._capture)
        self._applying_remote = False

    def _capture(self, event) -> None:
        if not self._applying_remote and event.update not in (b"", b"\x00\x00"):
            self._outgoing.append(event.update)

    async def connect(self) -> bool:
        connected, _ = await self.comm.connect()
        return connected

    async def sync(self, timeout: float = 3.0) -> None:
        """Do the initial handshake: answer the server's step 1 and apply its step 2."""
        await self.comm.send_to(bytes_data=protocol.sync_step1(self.doc.get_state()))
        await self.pump_until(lambda: self.synced, timeout)

    synced = False

    def handle(self, frame: bytes) -> bytes | None:
        msg = protocol.decode(frame)
        if msg.kind == protocol.MESSAGE_SYNC:
            if msg.sub_kind == protocol.SYNC_STEP1:
                return protocol.sync_step2(self.doc.get_update(msg.payload))
            self._applying_remote = True
            try:
                self.doc.apply_update(msg.payload)
            finally:
                self._applying_remote = False
            if msg.sub_kind == protocol.SYNC_STEP2:
                self.synced = True
        elif msg.kind == protocol.MESSAGE_AWARENESS:
            for cid, _clock, state in protocol.decode_awareness(msg.payload):
                if state == "null":
                    self.awareness.pop(cid, None)
                else:
                    self.awareness[cid] = state
        elif msg.kind == protocol.MESSAGE_AUTH:
            self.denied.append(msg.payload.decode(errors="replace"))
        return None

    async def receive_one(self, timeout: float = 1.0) -> bool:
        # Not comm.receive_output(): its timeout cancels the application under test.
        if self.comm.future.done() and self.comm.output_queue.empty():
            self.comm.future.result()
            raise ConnectionError("application finished")
        output = await asyncio.wait_for(self.comm.output_queue.get(), timeout)
        if output["type"] == "websocket.close":
            self.closed_code = output.get("code")
            return False
        frame = output.get("bytes")
        if frame is None:
            return True
        reply = self.handle(frame)
        if reply is not None:
            await self.comm.send_to(bytes_data=reply)
        return True

    async def pump_until(self, condition, timeout: float = 3.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("condition not reached")
            try:
                if not await self.receive_one(timeout=min(remaining, 0.5)):
                    if not condition():
                        raise ConnectionError(f"closed with {self.closed_code}")
            except TimeoutError:
                continue

    async def drain(self, quiet: float = 0.2) -> None:
        """Read until nothing arrives for `quiet` seconds."""
        while True:
            try:
                if not await self.receive_one(timeout=quiet):
                    return
            except TimeoutError:
                return

    async def flush(self) -> None:
        """Send local edits made since the last flush."""
        outgoing, self._outgoing = self._outgoing, []
        for update in outgoing:
            await self.comm.send_to(bytes_data=protocol.sync_update(update))

    async def settle(self, timeout: float = 3.0) -> None:
        """Round-trip a sync step 1: the server handles frames in order, so everything sent before is
        applied and stored once the step 2 reply arrives."""
        self.synced = False
        await self.sync(timeout)

    async def insert(self, index: int, content: str) -> None:
        self.text.insert(index, content)
        await self.flush()
        await self.settle()

    async def set_awareness(self, client_id: int, clock: int, state: dict) -> None:
        payload = protocol.encode_awareness([(client_id, clock, json.dumps(state))])
        await self.comm.send_to(bytes_data=protocol.awareness(payload))

    async def close(self) -> None:
        await self.comm.disconnect()
