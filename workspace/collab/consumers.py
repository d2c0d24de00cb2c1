"""The y-websocket endpoint: /ws/yjs/<file_id>, speaking the standard Yjs sync + awareness protocol.

Thin edge: decoding lives in `protocol`, document state in `rooms`, persistence in `writer`/`store`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from workspace.collab import protocol, registry
from workspace.collab.access import (
    CLOSE_FORBIDDEN,
    CLOSE_MALFORMED,
    CLOSE_RESYNC,
    CLOSE_TOO_BIG,
    CLOSE_TOO_SLOW,
    CLOSE_UNSUPPORTED,
    resolve_access,
)
from workspace.collab.attribution import Author
from workspace.collab.awareness import AwarenessError, Identity
from workspace.collab.outbox import ClientOutbox
from workspace.collab.room import DocumentTooLarge, Room, RoomClosed
from workspace.collab.writer import StoreFailed
from workspace.consumer_base import DirectDispatchWebsocketConsumer
from workspace.edge import client_transport
from workspace.edge.daphne_send import send_without_delay
from workspace.projects.models import Role, role_at_least
from workspace.realtime.presence import user_color

logger = logging.getLogger(__name__)

# How long a closing connection's queued frames may take to go out before the close frame is sent anyway.
CLOSE_FLUSH_SECONDS = 2.0


def is_exact(frame: bytes, header: int, payload: bytes) -> bool:
    """True when the frame is exactly its header, the payload length and the payload (no trailing bytes)."""
    return len(frame) == header + len(protocol.write_var_uint(len(payload))) + len(payload)


class YjsConsumer(DirectDispatchWebsocketConsumer):
    # No channel of its own: its room receives group messages once per process and hands them on.
    # (An alias that is not configured makes Channels skip the per-consumer channel and its receive loop.)
    channel_layer_alias = "ydoc-consumers-use-their-room-channel"
    room: Room | None = None
    revoked = False
    ending = False
    outbox: ClientOutbox | None = None

    async def connect(self) -> None:
        self.channel_name = f"ydoc-client.{uuid.uuid4().hex}"  # identifies this client as an update's origin
        self.file_id = int(self.scope["url_route"]["kwargs"]["file_id"])
        self.updates_since_compaction = 0
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0]
        self.access = await database_sync_to_async(resolve_access)(self.scope.get("user"), self.file_id, token)
        await self.accept()
        if self.access.close_code is not None:
            await self.close(code=self.access.close_code, reason=self.access.reason)
            return
        send_without_delay(self.base_send)
        self.outbox = ClientOutbox(
            client_transport(self.base_send), settings.COLLAB_CLIENT_QUEUE_BYTES, self._reading_too_slowly
        )
        self.identity = Identity(self.access.user_id, self.access.username, user_color(self.access.user_id or 0))
        self.can_write = role_at_least(self.access.role, Role.EDITOR)
        # Whom this connection's updates are stored for: its authenticated user, whatever the client says.
        self.author = Author(self.access.user_id)
        # The room subscribes to the group before loading, so no update falls between load and subscription.
        try:
            self.room = await registry.acquire(self.file_id, self)
        except Exception:  # noqa: BLE001 - e.g. the database is restarting: the client retries
            logger.warning("could not open the room of file %s", self.file_id, exc_info=True)
            await self.close(code=CLOSE_RESYNC, reason="the document could not be loaded; retrying")
            return
        self.push(protocol.sync_step1(self.room.doc.get_state()))
        awareness = self.room.awareness_frame()
        if awareness is not None:
            self.push(awareness)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.outbox is not None:
                self.outbox.close()
            # Ended without `disconnect` (e.g. the application was cancelled): still leave the room, so no
            # room reader outlives its connection (a receive pending on a finished loop wedges the layer).
            room, self.room = self.room, None
            if room is not None:
                registry.release(room, self)

    @property
    def user_id(self) -> int | None:
        """Whose connection this is (rooms check all their clients' roles by user id)."""
        return self.access.user_id

    async def apply_role(self, role: str | None) -> None:
        """From the room's access checks: a removed member is closed, a demoted editor stops writing."""
        if role is None:
            self.can_write = False
            if not self.revoked:
                self.revoked = True
                await self.end(CLOSE_FORBIDDEN, "access revoked")
            return
        self.can_write = role_at_least(role, Role.EDITOR)

    def push(self, frame: bytes) -> None:
        if self.outbox is not None:
            self.outbox.push(frame)

    async def end(self, code: int, reason: str) -> None:
        """Close this connection once (from the room: reset, file deleted, access revoked; or too slow)."""
        if self.ending:
            return
        self.ending = True
        self.can_write = False
        if self.outbox is not None and not self.outbox.overflowed:
            # What was queued before (e.g. the reason for a refusal) goes out before the close frame.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.flushed(), CLOSE_FLUSH_SECONDS)
        await self.close(code=code, reason=reason)

    def _reading_too_slowly(self) -> None:
        logger.info("closing a client of file %s that does not read (queue over its bound)", self.file_id)
        asyncio.get_running_loop().create_task(self.end(CLOSE_TOO_SLOW, "too much waiting to be sent; resync"))

    async def disconnect(self, code: int) -> None:
        room, self.room = self.room, None
        if room is None:
            return
        idle = registry.release(room, self)
        room.remove_awareness_of(self)
        if idle:
            await self._enqueue_compaction()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.room is None or self.ending:
            return
        if bytes_data is None:
            await self.end(CLOSE_UNSUPPORTED, "binary y-websocket frames only")
            return
        if len(bytes_data) > settings.COLLAB_MAX_FRAME_BYTES:
            await self.end(CLOSE_TOO_BIG, "frame too large")
            return
        try:
            message = protocol.decode(bytes_data)
            await self._handle(message, bytes_data)
        except DocumentTooLarge as exc:
            self.push(protocol.permission_denied(str(exc)))
            await self.end(CLOSE_TOO_BIG, "document too large")
        except (RoomClosed, StoreFailed):
            return  # the room was reset: this connection is being closed and resyncs on reconnect
        except (protocol.ProtocolError, ValueError, UnicodeDecodeError) as exc:
            logger.info("refused malformed frame on file %s: %s", self.file_id, exc)
            await self.end(CLOSE_MALFORMED, "malformed message")

    async def _handle(self, message: protocol.Message, frame: bytes) -> None:
        if message.kind == protocol.MESSAGE_SYNC:
            if message.sub_kind == protocol.SYNC_STEP1:
                self.push(self.room.sync_step2(message.payload))
                return
            # A well-formed update frame is forwarded as received; anything else is re-framed.
            forward = (
                frame if message.sub_kind == protocol.SYNC_UPDATE and is_exact(frame, 2, message.payload) else None
            )
            await self._receive_update(message.payload, forward)
        elif message.kind == protocol.MESSAGE_AWARENESS:
            entries = protocol.decode_awareness(message.payload)
            try:
                self.room.accept_awareness(self, self.identity, entries)
            except AwarenessError as exc:
                self.push(protocol.permission_denied(str(exc)))
        elif message.kind == protocol.MESSAGE_QUERY_AWARENESS:  # answered even with nobody there, as y-websocket does
            self.push(protocol.awareness(self.room.awareness.encoded()))

    async def _receive_update(self, update: bytes, frame: bytes | None) -> None:
        if update in (b"", b"\x00\x00"):
            return
        if not self.can_write:
            self.push(protocol.permission_denied("viewers cannot edit this file"))
            return
        if not await self.room.accept(update, self.channel_name, frame=frame, author=self.author):
            return
        self.updates_since_compaction += 1
        if self.updates_since_compaction >= settings.COLLAB_COMPACT_EVERY:
            self.updates_since_compaction = 0
            await self._enqueue_compaction()

    async def _enqueue_compaction(self) -> None:
        from tasks.collab import compact_document

        try:
            await sync_to_async(compact_document.delay)(self.file_id)
        except Exception:  # noqa: BLE001 - compaction is an optimisation; never fail a client for it
            logger.exception("could not enqueue compaction of file %s", self.file_id)
