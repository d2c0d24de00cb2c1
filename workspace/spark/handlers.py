"""Spark messages on the workspace channel.

spark.request {file_id, mode: insert|replace|chat|format|fix, instruction, selection: {start, end} (UTF-16
offsets) or {anchor, head} (Yjs relative positions), content?: text to apply without a model, history?: chat,
refine?: id of a pending edit this follows up on, force?: run even if it looks like a long task}
replies {"id": <request id>} (or {"handover_offered": true, "reason"} for a long task); progress arrives as
spark.progress / spark.done / spark.failed / spark.settled.
spark.cancel | spark.accept | spark.reject {id}; spark.hunks {id, action: accept|reject, hunks?: [index]};
spark.pending {} lists the workspace's edits awaiting Accept / Reject (a page that opens rebuilds its bar from it).
spark.handover: "Take this to Deep". spark.complete / spark.complete.cancel / spark.complete.report: completions as
you type (spark.completions explains why they run on this channel).
"""

from __future__ import annotations

import time

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from tasks.deep import enqueue
from workspace.broadcast import abroadcast_to_workspace
from workspace.jobs import services as jobs_services
from workspace.projects.models import Role
from workspace.realtime.handlers import HandlerContext, HandlerError, register
from workspace.spark import completions, handover, runner
from workspace.spark.services import SparkError


def _int(data: dict, key: str) -> int:
    try:
        return int(data[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise HandlerError(f"{key} must be an integer") from exc


@register("spark.request", min_role=Role.EDITOR)
async def request(ctx: HandlerContext, data: dict) -> dict | None:
    received_ns = time.monotonic_ns()
    content = data.get("content")
    history = data.get("history") or []
    if content is not None and not isinstance(content, str):
        raise HandlerError("content must be a string")
    if not isinstance(history, list):
        raise HandlerError("history must be a list of messages")
    refine = _int(data, "refine") if data.get("refine") is not None else None
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
            refine=refine,
            force=bool(data.get("force")),
            received_ns=received_ns,
        )
    except runner.HandOverOffered as exc:
        return {"id": None, "handover_offered": True, "reason": str(exc)}
    except SparkError as exc:
        raise HandlerError(str(exc)) from exc
    return {"id": job.request_id, "model": job.config.model if job.config else None, "thread_id": job.thread_id}


async def _control(ctx: HandlerContext, data: dict, action: str, hunks: list | None = None) -> dict:
    try:
        return await runner.control(_int(data, "id"), action, ctx.workspace_id, hunks, ctx.user_id)
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


@register("spark.hunks", min_role=Role.EDITOR)
async def hunks(ctx: HandlerContext, data: dict) -> dict | None:
    action = data.get("action")
    if action not in ("accept", "reject"):
        raise HandlerError("action must be accept or reject")
    chosen = data.get("hunks")
    if chosen is not None and not isinstance(chosen, list):
        raise HandlerError("hunks must be a list of hunk numbers")
    return await _control(ctx, data, f"{action}_hunks", chosen)


@register("spark.pending", min_role=Role.VIEWER)
async def pending(ctx: HandlerContext, data: dict) -> dict | None:
    return {"requests": await database_sync_to_async(runner.pending_edits)(ctx.workspace_id)}


@register("spark.handover", min_role=Role.EDITOR)
async def handover_to_deep(ctx: HandlerContext, data: dict) -> dict | None:
    """'Take this to Deep' {file_id, id?: the Spark request (pending edit, chat), instruction?, conversation?,
    selection?}: a Deep agent job carrying the Spark context; replies {job_id, thread_id}."""
    file_id = _int(data, "file_id")
    request_id = _int(data, "id") if data.get("id") is not None else None
    conversation = data.get("conversation") or []
    if not isinstance(conversation, list):
        raise HandlerError("conversation must be a list of messages")
    instruction = str(data.get("instruction") or "")
    selection = data.get("selection") if isinstance(data.get("selection"), dict) else None

    def work() -> dict:
        try:
            row, prompt = handover.prepare(
                ctx.workspace_id, ctx.user_id, file_id, request_id, instruction, conversation, selection
            )
        except SparkError as exc:
            raise HandlerError(str(exc)) from exc
        user = get_user_model().objects.get(id=ctx.user_id)
        origin = f"handed over from Spark thread #{row.thread_id_or_own}"
        try:
            job = jobs_services.create_handover_job(user, ctx.workspace_id, prompt, origin, enqueue=enqueue)
        except jobs_services.JobError as exc:
            raise HandlerError(str(exc)) from exc
        return {"job_id": job.id, "thread_id": handover.link(row, job.id), "id": row.id}

    reply = await database_sync_to_async(work)()
    await abroadcast_to_workspace(ctx.workspace_id, "spark.handover", reply)
    return reply


@register("spark.complete", min_role=Role.EDITOR)
async def complete(ctx: HandlerContext, data: dict) -> dict | None:
    """A completion as you type {file_id, path, language, prefix, suffix}: replies {key} at once; the text follows
    as `spark.completion {key, text, done}` to this socket only. Cancels the user's previous one."""
    received_ns = time.monotonic_ns()
    prefix, suffix = data.get("prefix"), data.get("suffix")
    if not isinstance(prefix, str) or not isinstance(suffix, str):
        raise HandlerError("prefix and suffix must be strings")
    try:
        key = await completions.start(
            send=ctx.consumer.send_json,
            user_id=ctx.user_id,
            workspace_id=ctx.workspace_id,
            file_id=_int(data, "file_id"),
            path=str(data.get("path") or "")[:512],
            language=str(data.get("language") or "")[:40],
            prefix=prefix,
            suffix=suffix,
            received_ns=received_ns,
        )
    except SparkError as exc:
        raise HandlerError(str(exc)) from exc
    return {"key": key}


@register("spark.complete.cancel", min_role=Role.EDITOR)
async def complete_cancel(ctx: HandlerContext, data: dict) -> dict | None:
    """A keystroke came: the request in flight is cancelled (its HTTP stream closed before the reply)."""
    return {"cancelled": await completions.cancel(ctx.user_id)}


@register("spark.complete.report", min_role=Role.EDITOR)
async def complete_report(ctx: HandlerContext, data: dict) -> dict | None:
    """What the user did with a completion {key, outcome: shown|accepted|partial|dismissed, latency_ms?,
    accepted_chars?}."""

    def number(name: str) -> float | None:
        value = data.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    accepted = number("accepted_chars")
    try:
        await completions.areport(
            str(data.get("key") or ""),
            ctx.user_id,
            str(data.get("outcome") or ""),
            number("latency_ms"),
            int(accepted) if accepted is not None else None,
        )
    except SparkError as exc:
        raise HandlerError(str(exc)) from exc
    return {}
