"""The workspace channel: /ws/workspace/<id>. JSON messages for presence and feature events.

Inbound: {"type": "<handler name>", "request_id": optional, ...}. Each type is looked up in the
handler registry and checked against the sender's role before it runs.
Outbound: group events {"type": "<event>", ...} and replies "<type>.ok" / "error".
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from workspace.broadcast import remember_server_loop, workspace_group
from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from workspace.consumer_base import DirectDispatchWebsocketConsumer
from workspace.edge.daphne_send import send_without_delay
from workspace.projects import guard
from workspace.realtime import inbound, presence
from workspace.realtime.handlers import HANDLERS, HandlerContext, HandlerError

logger = logging.getLogger(__name__)


class WorkspaceConsumer(DirectDispatchWebsocketConsumer):
    joined = False

    async def connect(self) -> None:
        remember_server_loop()
        self.workspace_id = int(self.scope["url_route"]["kwargs"]["workspace_id"])
        self.group = workspace_group(self.workspace_id)
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="log in first")
            return
        role = await database_sync_to_async(guard.role_of)(user, self.workspace_id)
        if role is None:
            await self.close(code=CLOSE_FORBIDDEN, reason="not a member of this workspace")
            return
        send_without_delay(self.base_send)
        self.ctx = HandlerContext(user.id, user.username, self.workspace_id, role, self.channel_name, self)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        await database_sync_to_async(presence.join)(self.channel_name, self.workspace_id, user.id)
        await self.send_json(
            {
                "type": "hello",
                "user": {"id": user.id, "username": user.username, "color": presence.user_color(user.id)},
                "role": role,
            }
        )
        await self.broadcast_presence()

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Ended without `disconnect` (an exception escaped a handler, or the application was cancelled): the
            # user must not stay shown online. Shielded so that a second cancellation cannot cut the cleanup short.
            if self.joined:
                await asyncio.shield(self.leave())

    async def disconnect(self, code: int) -> None:
        await self.leave()

    async def leave(self) -> None:
        """Leave the workspace group and the presence list, and tell the others. Does nothing if not joined."""
        if not self.joined:
            return
        self.joined = False
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await database_sync_to_async(presence.leave)(self.channel_name)
        await self.broadcast_presence()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        try:
            data = inbound.parse_message(
                text_data if text_data is not None else (bytes_data or b""),
                max_bytes=settings.REALTIME_MAX_JSON_BYTES,
                max_depth=settings.REALTIME_MAX_JSON_DEPTH,
            )
        except inbound.MessageRefused as exc:
            await self.send_json({"type": "error", "message": str(exc)})
            return
        try:
            await self.dispatch_message(data)
        except Exception:
            # Whatever failed (a database call, a reply that could not be built), the connection stays.
            logger.exception("message %r failed", data["type"])
            await self.send_json({"type": "error", "request_id": data.get("request_id"), "message": "internal error"})

    async def dispatch_message(self, data: dict) -> None:
        kind = data["type"]
        request_id = data.get("request_id")
        registered = HANDLERS.get(kind)
        if registered is None:
            await self.send_json({"type": "error", "request_id": request_id, "message": f"unknown type {kind!r}"})
            return
        # Re-read the role so a removed or demoted member loses rights at once.
        self.ctx.role = await database_sync_to_async(guard.role_of)(self.scope["user"], self.workspace_id)
        refusal = guard.channel_refusal(kind, self.ctx.role, registered.min_role)
        if refusal is not None:
            await self.send_json({"type": "error", "request_id": request_id, **refusal})
            if self.ctx.role is None:
                await self.close(code=CLOSE_FORBIDDEN, reason="no longer a member")
            return
        try:
            reply = await registered.func(self.ctx, data)
        except HandlerError as exc:
            await self.send_json({"type": "error", "request_id": request_id, "message": str(exc)})
            return
        except Exception:
            logger.exception("handler %s failed", kind)
            await self.send_json({"type": "error", "request_id": request_id, "message": "internal error"})
            return
        if reply is not None:
            await self.send_json({"type": f"{kind}.ok", "request_id": request_id, **reply})

    async def send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, default=str))

    async def broadcast_presence(self) -> None:
        users = await database_sync_to_async(presence.online)(self.workspace_id)
        await self.channel_layer.group_send(
            self.group, {"type": "workspace.event", "event": "presence", "data": {"users": users}}
        )

    async def workspace_event(self, event: dict) -> None:
        if self.joined:
            await self.send_json({"type": event["event"], **event["data"]})
