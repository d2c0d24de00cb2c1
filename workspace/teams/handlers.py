"""Workspace-channel handlers: persistent chat and follow mode ("presence.view")."""

from __future__ import annotations

from channels.db import database_sync_to_async

from workspace.broadcast import abroadcast_to_workspace
from workspace.projects.models import FileNode, Role
from workspace.realtime.handlers import HandlerContext, HandlerError, register
from workspace.realtime.presence import user_color
from workspace.teams import services


def _optional_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HandlerError(f"{name} must be a number")
    return int(value)


@register("chat.send", min_role=Role.VIEWER)
async def chat_send(ctx: HandlerContext, data: dict) -> dict | None:
    try:
        message = await database_sync_to_async(services.post_chat)(ctx.workspace_id, ctx.user_id, data.get("text"))
    except services.TeamError as exc:
        raise HandlerError(str(exc)) from exc
    await abroadcast_to_workspace(ctx.workspace_id, "chat.message", {"message": message})
    return {"message": message}


@register("chat.history", min_role=Role.VIEWER)
async def chat_history(ctx: HandlerContext, data: dict) -> dict | None:
    before_id = _optional_int(data.get("before_id"), "before_id")
    limit = _optional_int(data.get("limit"), "limit") or 50
    messages = await database_sync_to_async(services.chat_history)(ctx.workspace_id, before_id=before_id, limit=limit)
    return {"messages": messages}


def _view_position(data: dict) -> tuple[dict | None, float | None, float | None]:
    cursor = data.get("cursor")
    if cursor is not None:
        if not isinstance(cursor, dict):
            raise HandlerError("cursor must be {lineNumber, column}")
        line, column = cursor.get("lineNumber"), cursor.get("column")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (line, column)):
            raise HandlerError("cursor must be {lineNumber, column} with positive integers")
        cursor = {"lineNumber": line, "column": column}
    scroll = {}
    for key in ("scroll_top", "scroll_left"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise HandlerError(f"{key} must be a non-negative number")
        scroll[key] = value
    return cursor, scroll["scroll_top"], scroll["scroll_left"]


@register("presence.view", min_role=Role.VIEWER)
async def presence_view(ctx: HandlerContext, data: dict) -> dict | None:
    """Where this user is looking (file, cursor, scroll); followers' editors mirror it."""
    file_id = _optional_int(data.get("file_id"), "file_id")
    if file_id is not None and not await FileNode.objects.filter(id=file_id, workspace_id=ctx.workspace_id).aexists():
        raise HandlerError("no such file in this workspace")
    cursor, scroll_top, scroll_left = _view_position(data)
    await abroadcast_to_workspace(
        ctx.workspace_id,
        "presence.view",
        {
            "user_id": ctx.user_id,
            "username": ctx.username,
            "color": user_color(ctx.user_id),
            "file_id": file_id,
            "cursor": cursor,
            "scroll_top": scroll_top,
            "scroll_left": scroll_left,
        },
    )
    return {}
