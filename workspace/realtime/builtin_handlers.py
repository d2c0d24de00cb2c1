"""Handlers every workspace channel has: presence heartbeat and the file a user has open."""

from __future__ import annotations

from channels.db import database_sync_to_async

from workspace.projects.models import FileNode, Role
from workspace.realtime import presence
from workspace.realtime.handlers import HandlerContext, HandlerError, register


@register("presence.ping", min_role=Role.VIEWER)
async def ping(ctx: HandlerContext, data: dict) -> dict | None:
    await database_sync_to_async(presence.touch)(ctx.channel_name)
    return {}


@register("presence.open_file", min_role=Role.VIEWER)
async def open_file(ctx: HandlerContext, data: dict) -> dict | None:
    file_id = data.get("file_id")
    if file_id is not None:
        exists = await FileNode.objects.filter(id=file_id, workspace_id=ctx.workspace_id).aexists()
        if not exists:
            raise HandlerError("no such file in this workspace")
    await database_sync_to_async(presence.set_file)(ctx.channel_name, file_id)
    await ctx.consumer.broadcast_presence()
    return {}
