"""The y-websocket endpoint: /ws/yjs/<file_id>, speaking the standard Yjs sync + awareness protocol.

Thin edge: decoding lives in `protocol`, document state in `rooms`, persistence in `writer`/`store`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from workspace.collab import protocol, rooms
from workspace.collab.access import (
    CLOSE_FORBIDDEN,
    CLOSE_MALFORMED,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    resolve_access,
)
from workspace.collab.rooms import room_group
from workspace.collab.writer import writer
from workspace.consumer_base import DirectDispatchWebsocketConsumer
from workspace.daphne_send import direct_binary_sender
from workspace.projects.models import Role, role_at_least

logger = logging.getLogger(__name__)


def is_exact(frame: bytes, header: int, payload: bytes) -> bool:
    """True when the frame is exactly its header, the payload length and the payload (no trailing bytes)."""
    return len(frame) == header + len(protocol.write_var_uint(len(payload))) + len(payload)


class YjsConsumer(DirectDispatchWebsocketConsumer):
    # No channel of its own: its room receives group messages once per process and hands them on.
    # (An alias that is not configured makes Channels skip the per-consumer channel and its receive loop.)
    channel_layer_alias = "ydoc-consumers-use-their-room-channel"
    room: rooms.Room | None = None
    revoked = False
    _send_direct = None

    async def connect(self) -> None:
        self.channel_name = f"ydoc-client.{uuid.uuid4().hex}"  # identifies this client as an update's origin
        self.file_id = int(self.scope["url_route"]["kwargs"]["file_id"])
        self.group = room_group(self.file_id)
        self.awareness_ids: set[int] = set()
        self.updates_since_compaction = 0
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0]
        self.access = await database_sync_to_async(resolve_access)(self.scope.get("user"), self.file_id, token)
        await self.accept()
        self._send_direct = direct_binary_sender(self.base_send)
        if self.access.close_code is not None:
            await self.close(code=self.access.close_code, reason=self.access.reason)
            return
        self.can_write = role_at_least(self.access.role, Role.EDITOR)
        # The room subscribes to the group before loading, so no update falls between load and subscription.
        self.room = await rooms.acquire(self.file_id, self)
        await self.send(bytes_data=protocol.sync_step1(self.room.doc.get_state()))
        if self.room.awareness:
            await self.send(bytes_data=protocol.awareness(protocol.encode_awareness(self.room.awareness_entries())))

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Ended without `disconnect` (e.g. the application was cancelled): still leave the room, so no
            # room reader outlives its connection (a receive pending on a finished loop wedges the layer).
            room, self.room = self.room, None
            if room is not None and rooms.release(room, self):
                asyncio.ensure_future(room.close())

    @property
    def user_id(self) -> int | None:
        """Whose connection this is (rooms check all their clients' roles by user id)."""
        return self.access.user_id

    async def apply_role(self, role: str | None) -> None:
        """From the room's periodic access check: a removed member is closed, a demoted editor stops writing."""
        if role is None:
            self.can_write = False
            if not self.revoked:
                self.revoked = True
                await self.close(code=CLOSE_FORBIDDEN, reason="access revoked")
            return
        self.can_write = role_at_least(role, Role.EDITOR)

    def try_send_frame(self, frame: bytes) -> bool:
        return self._send_direct is not None and self._send_direct(frame)

    async def send_frame(self, frame: bytes) -> None:
        await self.base_send({"type": "websocket.send", "bytes": frame})

    async def disconnect(self, code: int) -> None:
        room, self.room = self.room, None
        if room is None:
            return
        closed = rooms.release(room, self)
        if self.awareness_ids:
            gone = [(cid, room.awareness.get(cid, (0, ""))[0] + 1, "null") for cid in self.awareness_ids]
            room.merge_awareness(gone)
            self._fan_out_awareness(room, protocol.encode_awareness(gone))
        if closed:
            await room.close()
            await self._enqueue_compaction()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.room is None:
            return
        if bytes_data is None:
            await self.close(code=CLOSE_UNSUPPORTED, reason="binary y-websocket frames only")
            return
        if len(bytes_data) > settings.COLLAB_MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG, reason="frame too large")
            return
        try:
            message = protocol.decode(bytes_data)
            await self._handle(message, bytes_data)
        except (protocol.ProtocolError, ValueError, UnicodeDecodeError) as exc:
            logger.info("refused malformed frame on file %s: %s", self.file_id, exc)
            await self.close(code=CLOSE_MALFORMED, reason="malformed message")

    async def _handle(self, message: protocol.Message, frame: bytes) -> None:
        if message.kind == protocol.MESSAGE_SYNC:
            if message.sub_kind == protocol.SYNC_STEP1:
                await self.send(bytes_data=protocol.sync_step2(self.room.state_for(message.payload)))
                return
            # A well-formed update frame is forwarded as received; anything else is re-framed.
            forward = (
                frame if message.sub_kind == protocol.SYNC_UPDATE and is_exact(frame, 2, message.payload) else None
            )
            await self._receive_update(message.payload, forward)
        elif message.kind == protocol.MESSAGE_AWARENESS:
            entries = protocol.decode_awareness(message.payload)
            self.awareness_ids.update(cid for cid, _, state in entries if state != "null")
            self.room.merge_awareness(entries)
            forward = frame if is_exact(frame, 1, message.payload) else None
            self._fan_out_awareness(self.room, message.payload, forward)
        elif message.kind == protocol.MESSAGE_QUERY_AWARENESS:
            await self.send(bytes_data=protocol.awareness(protocol.encode_awareness(self.room.awareness_entries())))

    async def _receive_update(self, update: bytes, frame: bytes | None) -> None:
        if update in (b"", b"\x00\x00"):
            return
        if not self.can_write:
            await self.send(bytes_data=protocol.permission_denied("viewers cannot edit this file"))
            return
        room = self.room
        msg_id = rooms.new_msg_id()
        if not room.apply(update, msg_id):
            return
        # Fanned out by the writer in the event-loop step that learns of the commit, not after this task resumes.
        fan_out = partial(self._fan_out_stored, room, update, frame or protocol.sync_update(update), msg_id)
        await writer.persist(self.file_id, update, then=fan_out)
        self.updates_since_compaction += 1
        if self.updates_since_compaction >= settings.COLLAB_COMPACT_EVERY:
            self.updates_since_compaction = 0
            await self._enqueue_compaction()

    def _fan_out_stored(self, room: rooms.Room, update: bytes, frame: bytes, msg_id: str) -> Callable[[], None]:
        """A stored update queued for this process's other clients and for the other processes; returns the
        room's flush, which the writer runs once the whole batch is queued (one merged frame per client)."""
        room.deliver_update(update, frame, self.channel_name)
        room.publish({"type": "ydoc.update", "payload": update, "origin": self.channel_name, "msg_id": msg_id})
        return room.flush_deliveries

    def _fan_out_awareness(self, room: rooms.Room, payload: bytes, frame: bytes | None = None) -> None:
        """Hand to this process's other clients, and queue the message for the other processes."""
        msg_id = room.own_msg_id()
        room.deliver(frame or protocol.awareness(payload), skip=self.channel_name)
        room.publish({"type": "ydoc.awareness", "payload": payload, "origin": self.channel_name, "msg_id": msg_id})

    async def _enqueue_compaction(self) -> None:
        from tasks.collab import compact_document

        try:
            await sync_to_async(compact_document.delay)(self.file_id)
        except Exception:  # noqa: BLE001 - compaction is an optimisation; never fail a client for it
            logger.exception("could not enqueue compaction of file %s", self.file_id)
