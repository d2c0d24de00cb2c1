"""The y-websocket endpoint: /ws/yjs/<file_id>, speaking the standard Yjs sync + awareness protocol.

Thin edge: decoding lives in `protocol`, document state in `rooms`, persistence in `writer`/`store`.
"""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from workspace.collab import protocol, rooms
from workspace.collab.access import (
    CLOSE_MALFORMED,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    resolve_access,
)
from workspace.collab.writer import writer
from workspace.projects.models import Role, role_at_least

logger = logging.getLogger(__name__)


def room_group(file_id: int) -> str:
    return f"ydoc.{file_id}"


class YjsConsumer(AsyncWebsocketConsumer):
    room: rooms.Room | None = None

    async def connect(self) -> None:
        self.file_id = int(self.scope["url_route"]["kwargs"]["file_id"])
        self.group = room_group(self.file_id)
        self.awareness_ids: set[int] = set()
        self.updates_since_compaction = 0
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0]
        self.access = await database_sync_to_async(resolve_access)(self.scope.get("user"), self.file_id, token)
        await self.accept()
        if self.access.close_code is not None:
            await self.close(code=self.access.close_code, reason=self.access.reason)
            return
        self.can_write = role_at_least(self.access.role, Role.EDITOR)
        # Join the group before loading so no update falls between the load and the subscription.
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.room = await rooms.acquire(self.file_id)
        await self.send(bytes_data=protocol.sync_step1(self.room.doc.get_state()))
        if self.room.awareness:
            await self.send(bytes_data=protocol.awareness(protocol.encode_awareness(self.room.awareness_entries())))

    async def disconnect(self, code: int) -> None:
        if self.room is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.awareness_ids:
            gone = [(cid, self.room.awareness.get(cid, (0, ""))[0] + 1, "null") for cid in self.awareness_ids]
            self.room.merge_awareness(gone)
            await self._fan_out("ydoc.awareness", protocol.encode_awareness(gone))
        if await rooms.release(self.room):
            await self._enqueue_compaction()
        self.room = None

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
            await self._handle(message)
        except (protocol.ProtocolError, ValueError, UnicodeDecodeError) as exc:
            logger.info("refused malformed frame on file %s: %s", self.file_id, exc)
            await self.close(code=CLOSE_MALFORMED, reason="malformed message")

    async def _handle(self, message: protocol.Message) -> None:
        if message.kind == protocol.MESSAGE_SYNC:
            if message.sub_kind == protocol.SYNC_STEP1:
                await self.send(bytes_data=protocol.sync_step2(self.room.state_for(message.payload)))
                return
            await self._receive_update(message.payload)
        elif message.kind == protocol.MESSAGE_AWARENESS:
            entries = protocol.decode_awareness(message.payload)
            self.awareness_ids.update(cid for cid, _, state in entries if state != "null")
            self.room.merge_awareness(entries)
            await self._fan_out("ydoc.awareness", message.payload)
        elif message.kind == protocol.MESSAGE_QUERY_AWARENESS:
            await self.send(bytes_data=protocol.awareness(protocol.encode_awareness(self.room.awareness_entries())))

    async def _receive_update(self, update: bytes) -> None:
        if update in (b"", b"\x00\x00"):
            return
        if not self.can_write:
            await self.send(bytes_data=protocol.permission_denied("viewers cannot edit this file"))
            return
        msg_id = uuid.uuid4().hex
        if not self.room.apply(update, msg_id):
            return
        await writer.persist(self.file_id, update)
        await self._fan_out("ydoc.update", update, msg_id)
        self.updates_since_compaction += 1
        if self.updates_since_compaction >= settings.COLLAB_COMPACT_EVERY:
            self.updates_since_compaction = 0
            await self._enqueue_compaction()

    async def _fan_out(self, kind: str, payload: bytes, msg_id: str | None = None) -> None:
        await self.channel_layer.group_send(
            self.group,
            {"type": kind, "payload": payload, "origin": self.channel_name, "msg_id": msg_id},
        )

    async def _enqueue_compaction(self) -> None:
        from tasks.collab import compact_document

        try:
            await sync_to_async(compact_document.delay)(self.file_id)
        except Exception:  # noqa: BLE001 - compaction is an optimisation; never fail a client for it
            logger.exception("could not enqueue compaction of file %s", self.file_id)

    # Channel-layer handlers (fan-out from any process).
    async def ydoc_update(self, event: dict) -> None:
        if self.room is None:
            return
        self.room.apply(event["payload"], event.get("msg_id"))
        if event["origin"] != self.channel_name:
            await self.send(bytes_data=protocol.sync_update(event["payload"]))

    async def ydoc_awareness(self, event: dict) -> None:
        if self.room is None:
            return
        if event["origin"] != self.channel_name:
            self.room.merge_awareness(protocol.decode_awareness(event["payload"]))
            await self.send(bytes_data=protocol.awareness(event["payload"]))
