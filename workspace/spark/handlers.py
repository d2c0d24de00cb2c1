"""Spark messages on the workspace channel: spark.request, spark.cancel, spark.accept, spark.reject.

spark.request {file_id, mode: insert|replace|chat|format|fix, instruction, selection: {start, end} (UTF-16
offsets) or {anchor, head} (Yjs relative positions), content?: text to apply without a model, history?: chat}
replies {"id": <request id>}; progress arrives as spark.progress / spark.done / spark.failed / spark.settled.
"""

from __future__ import annotations

from workspace.projects.models import Role
from workspace.realtime.handlers import HandlerContext, HandlerError, register
from workspace.spark import runner
from workspace.spark.services import SparkError


def _int(data: dict, key: str) -> int:
    try:
        return int(data[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise HandlerError(f"{key} must be an integer") from exc


@register("spark.request", min_role=Role.EDITOR)
async def request(ctx: HandlerContext, data: dict) -> dict | None:
    content = data.get("content")
    history = data.get("history") or []
    if content is not None and not isinstance(content, str):
        raise HandlerError("content must be a string")
    if not isinstance(history, list):
        raise HandlerError("history must be a list of messages")
    try:
        job = await runner.start(
            workspace_id=ctx.workspace_id,
            user_id=ctx.user_id,
            file_id=_int(data, "file_id"),
            mode=str(data.get("mode") or "insert"),
            instruction=str(data.get("instruction") or ""),
            selection=data.get("selection") or {},
            content=content,
            history=[m for m in history if isinstance(m, dict)],
        )
    except SparkError as exc:
        raise HandlerError(str(exc)) from exc
    return {"id": job.request_id, "model": job.config.model if job.config else None}


async def _control(ctx: HandlerContext, data: dict, action: str) -> dict:
    try:
        return await runner.control(_int(data, "id"), action, ctx.workspace_id)
    except SparkError as exc:
        raise HandlerError(str(exc)) from exc


@register("spark.cancel", min_role=Role.EDITOR)
async def cancel(ctx: HandlerContext, data: dict) -> dict | None:
    return await _control(ctx, data, "cancel")


@register("spark.accept", min_role=Role.EDITOR)
async def accept(ctx: HandlerContext, data: dict) -> dict | None:
    return await _control(ctx, data, "accept")


@register("spark.reject", min_role=Role.EDITOR)
async def reject(ctx: HandlerContext, data: dict) -> dict | None:
    return await _control(ctx, data, "reject")
