"""Running Spark requests in the web process: start, stream, record, broadcast, cancel, accept, reject.

A request runs as a background asyncio task in the Daphne process that received it. Its session stays
alive after the stream (the text is pending) until Accept, Reject or SPARK_PENDING_TTL. Control
messages for a session living in another process are published on its bus topic (`SparkRequest.session_channel`).

Failure policy: whatever was streamed before a failure or a Stop stays in the document, highlighted
and pending like a finished answer, so the user decides (Accept keeps it, Reject removes it and
restores any replaced text). A failure before the first token changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from workspace.broadcast import abroadcast_to_workspace
from workspace.bus import get_bus
from workspace.collab.room import RoomClosed
from workspace.llm import ProviderConfig, aresolve, describe_error
from workspace.spark import services
from workspace.spark.models import SparkRequest
from workspace.spark.positions import byte_slice, from_relative_position, utf16_to_byte
from workspace.spark.prompts import EditContext, build_messages, prompt_text
from workspace.spark.services import EDIT_MODES, MODES, OFFLINE_MODES, SparkError
from workspace.spark.sources import RuffError, model_pieces, run_ruff, text_pieces, without_fences
from workspace.spark.streamer import CONTROL, SparkSession, StreamStats

logger = logging.getLogger(__name__)
Status = SparkRequest.Status


@dataclass
class SparkJob:
    """Everything about one request that lives in this process."""

    request_id: int
    workspace_id: int
    file_id: int
    user_id: int
    mode: str
    instruction: str
    selection: dict
    content: str | None = None
    history: list[dict] = field(default_factory=list)
    config: ProviderConfig | None = None
    session: SparkSession | None = None
    stats: StreamStats = field(default_factory=StreamStats)
    task: asyncio.Task | None = None
    status: str = Status.STREAMING
    settle_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ttl_handle: asyncio.TimerHandle | None = None
    last_progress: float = 0.0
    chat_text: str = ""


_jobs: dict[int, SparkJob] = {}
_db = database_sync_to_async


def live_job(request_id: int) -> SparkJob | None:
    return _jobs.get(request_id)


# Starting ------------------------------------------------------------------------------------------
async def start(
    *,
    workspace_id: int,
    user_id: int,
    file_id: int,
    mode: str,
    instruction: str = "",
    selection: dict | None = None,
    content: str | None = None,
    history: list[dict] | None = None,
) -> SparkJob:
    """Validate and record a request, then run it in the background. Raises SparkError."""
    if mode not in MODES:
        raise SparkError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    if len(instruction) > settings.SPARK_MAX_INSTRUCTION_CHARS:
        raise SparkError(f"the instruction is longer than {settings.SPARK_MAX_INSTRUCTION_CHARS} characters")
    node = await _db(services.file_in_workspace)(file_id, workspace_id)
    config = None
    if mode in OFFLINE_MODES:
        if node.language != "python":
            raise SparkError(f"{mode} (ruff) works on Python files only")
        model, base_url = f"ruff {mode}", ""
    elif content is not None and mode in EDIT_MODES:
        model, base_url = "apply", ""  # applying code from the chat panel: no model call
    else:
        if not instruction.strip():
            raise SparkError("write an instruction for Spark")
        config = await aresolve("spark")
        if not config.configured:
            raise SparkError(config.public()["help"])
        model, base_url = config.model, config.base_url
    row = await _db(services.create_request)(workspace_id, file_id, user_id, mode, instruction, model, base_url)
    job = SparkJob(
        row.id, workspace_id, file_id, user_id, mode, instruction, selection or {}, content, history or [], config
    )
    _jobs[row.id] = job
    job.task = asyncio.create_task(_run(job, node.path, node.language), name=f"spark-{row.id}")
    await abroadcast_to_workspace(
        workspace_id,
        "spark.started",
        {"id": row.id, "file_id": file_id, "user_id": user_id, "mode": mode, "model": model},
    )
    await _history(job)
    return job


async def _run(job: SparkJob, path: str, language: str) -> None:
    try:
        if job.mode == "chat":
            await _run_chat(job, path, language)
        else:
            await _run_edit(job, path, language)
    except Exception:  # noqa: BLE001 - last resort: a request must always end recorded
        logger.exception("spark request %s crashed", job.request_id)
        await _finish(job, Status.FAILED, "internal error in Sparkroom (see the server log)")


async def _run_edit(job: SparkJob, path: str, language: str) -> None:
    session = job.session = SparkSession(job.request_id, job.file_id, job.user_id)
    session.stats = job.stats
    session.on_control = lambda action, message: control_local(job, action)
    text = await session.open()
    await _db(services.update_request)(job.request_id, session_channel=session.control_topic)
    try:
        pieces = await _pieces_for(job, session, text, path, language)
    except (SparkError, RuffError, ValueError) as exc:
        await _finish(job, Status.FAILED, str(exc))
        return
    error = ""
    try:
        await session.stream(pieces, on_progress=lambda: _progress(job))
        status = Status.CANCELLED if session.cancelled else Status.DONE
    except Exception as exc:  # noqa: BLE001 - every model/transport failure becomes a clear message
        status = Status.FAILED
        error = describe_error(exc, job.config, tokens=job.stats.pieces)
        logger.info("spark request %s failed: %s (%r)", job.request_id, error, exc)
    await _finish(job, status, error)


async def _pieces_for(job: SparkJob, session: SparkSession, text: str, path: str, language: str):
    """Set the target range and pick the source of text for an edit, format or fix request."""
    if job.mode in OFFLINE_MODES:
        session.set_target(0, len(text.encode()))
        new_text = await run_ruff(job.mode, text, path)
        await _db(services.update_request)(job.request_id, prompt=f"ruff {job.mode} {path}")
        if new_text == text:
            return text_pieces("", job.stats)
        return text_pieces(new_text, job.stats)
    start, end = _target(session, job.selection)
    session.set_target(start, end)
    if job.content is not None:
        await _db(services.update_request)(job.request_id, prompt=f"apply from chat:\n{job.content}")
        return text_pieces(job.content, job.stats)
    mode = "replace" if job.mode == "replace" and end > start else "insert"
    context = EditContext(path, language, text, _char_index(text, start), _char_index(text, end), mode)
    messages = build_messages(context, job.instruction)
    await _db(services.update_request)(job.request_id, prompt=prompt_text(messages))
    return without_fences(model_pieces(job.config, messages, job.stats))


def _char_index(text: str, byte_offset: int) -> int:
    return len(byte_slice(text, 0, byte_offset))


def _target(session: SparkSession, selection: dict) -> tuple[int, int]:
    """Byte range of the selection sent by the browser: Yjs relative positions {anchor, head} (preferred: they
    survive concurrent edits) or UTF-16 offsets {start, end}."""
    if not isinstance(selection, dict):
        raise SparkError("selection must be an object")
    if "anchor" in selection:
        try:
            anchor = from_relative_position(session.text, selection["anchor"]).get_index()
            head = from_relative_position(session.text, selection.get("head", selection["anchor"])).get_index()
        except (ValueError, RuntimeError) as exc:
            raise SparkError("selection anchor/head must be Yjs relative positions") from exc
        return min(anchor, head), max(anchor, head)
    content = str(session.text)
    try:
        start = int(selection.get("start", len(content.encode("utf-16-le")) // 2))
        end = int(selection.get("end", start))
    except (TypeError, ValueError) as exc:
        raise SparkError("selection start/end must be integers") from exc
    return utf16_to_byte(content, start), utf16_to_byte(content, end)


async def _run_chat(job: SparkJob, path: str, language: str) -> None:
    """Chat answers stream to the panel (not into the file); code blocks are applied with mode insert/replace."""
    text = await _db(services.file_text)(job.file_id)
    content_len = len(text.encode("utf-16-le")) // 2
    start = min(max(int(job.selection.get("start", 0) or 0), 0), content_len)
    end = min(max(int(job.selection.get("end", start) or start), start), content_len)
    start_c, end_c = _utf16_to_char(text, start), _utf16_to_char(text, end)
    messages = build_messages(EditContext(path, language, text, start_c, end_c, "chat"), job.instruction, job.history)
    await _db(services.update_request)(job.request_id, prompt=prompt_text(messages))
    status, error = Status.DONE, ""
    pieces = model_pieces(job.config, messages, job.stats)
    buffered, last_sent = "", 0.0
    try:
        async for piece in pieces:
            job.chat_text += piece
            buffered += piece
            if time.monotonic() - last_sent >= settings.SPARK_FLUSH_INTERVAL_MS / 1000:
                await _chat_delta(job, buffered)
                buffered, last_sent = "", time.monotonic()
                await _progress(job)
    except asyncio.CancelledError:
        status = Status.CANCELLED
    except Exception as exc:  # noqa: BLE001 - reported to the user
        status, error = Status.FAILED, describe_error(exc, job.config, tokens=job.stats.pieces)
    finally:
        await pieces.aclose()
    if buffered:
        await _chat_delta(job, buffered)
    await _finish(job, status, error)


def _utf16_to_char(text: str, offset: int) -> int:
    return len(byte_slice(text, 0, utf16_to_byte(text, offset)))


async def _chat_delta(job: SparkJob, text: str) -> None:
    await abroadcast_to_workspace(
        job.workspace_id, "spark.chat.delta", {"id": job.request_id, "user_id": job.user_id, "text": text}
    )


# Progress and the record ---------------------------------------------------------------------------
async def _progress(job: SparkJob) -> None:
    now = time.monotonic()
    if now - job.last_progress < settings.SPARK_PROGRESS_INTERVAL_MS / 1000:
        return
    job.last_progress = now
    await abroadcast_to_workspace(
        job.workspace_id, "spark.progress", {"id": job.request_id, "file_id": job.file_id, **job.stats.live()}
    )


async def _finish(job: SparkJob, status: str, error: str) -> None:
    """Record the outcome of the stream and tell every browser; keep the session if text is pending."""
    session = job.session
    inserted = session.inserted if session else job.chat_text
    pending = session is not None and bool(session.inserted or session.replaced)
    job.status = status
    stats = job.stats
    await _db(services.update_request)(
        job.request_id,
        finished=True,
        status=status,
        error=error,
        ttft_ms=stats.ttft_ms,
        tokens=stats.tokens,
        tokens_per_second=stats.tokens_per_second,
        overhead_ms=stats.overhead_ms,
        overhead_max_ms=stats.overhead_max_ms,
        duration_ms=stats.duration_ms(),
        retries=stats.retries,
        inserted_text=inserted,
        replaced_text=session.replaced if session else "",
        session_channel=session.control_topic if pending else "",
    )
    event = "spark.failed" if status == Status.FAILED else "spark.done"
    payload = {"id": job.request_id, "file_id": job.file_id, "status": status, "error": error, "pending": pending}
    if job.mode == "chat":
        payload["text"] = job.chat_text
    await abroadcast_to_workspace(job.workspace_id, event, {**payload, **stats.live()})
    await _history(job)
    if pending:
        await session.finish()
        loop = asyncio.get_running_loop()
        job.ttl_handle = loop.call_later(
            settings.SPARK_PENDING_TTL, lambda: asyncio.ensure_future(control_local(job, "accept"))
        )
    else:
        if session is not None:
            await session.close()
        _jobs.pop(job.request_id, None)


async def _history(job: SparkJob) -> None:
    await abroadcast_to_workspace(
        job.workspace_id, "history.updated", {"kind": "spark", "id": job.request_id, "status": job.status}
    )


# Cancel / accept / reject ------------------------------------------------------------------------
async def control(request_id: int, action: str, workspace_id: int) -> dict:
    """Carry out an action on a request from any process. Raises SparkError with a clear reason."""
    if action not in ("cancel", "accept", "reject"):
        raise SparkError(f"unknown action {action!r}")
    row = await _db(services.get_request)(request_id, workspace_id)
    job = _jobs.get(request_id)
    if job is not None:
        return await control_local(job, action)
    if action == "cancel" and row.status != Status.STREAMING:
        raise SparkError("this Spark request is not streaming any more")
    if action != "cancel" and not row.pending:
        raise SparkError(f"this Spark request is already {row.status}")
    if row.session_channel:
        await get_bus().publish(row.session_channel, {"type": CONTROL, "action": action})
        return {"id": request_id, "status": row.status, "queued": True}
    if action == "accept":
        await _db(services.update_request)(request_id, status=Status.ACCEPTED)
        await abroadcast_to_workspace(workspace_id, "spark.settled", {"id": request_id, "status": Status.ACCEPTED})
        return {"id": request_id, "status": Status.ACCEPTED}
    raise SparkError("this Spark edit can no longer be rejected (its session ended); undo it by hand")


async def control_local(job: SparkJob, action: str) -> dict:
    """Carry out an action on a session living in this process."""
    if action == "cancel":
        if job.status != Status.STREAMING:
            raise SparkError("this Spark request is not streaming any more")
        _stop(job)
        return {"id": job.request_id, "status": Status.CANCELLED}
    async with job.settle_lock:
        if job.status in (Status.ACCEPTED, Status.REJECTED):
            raise SparkError(f"this Spark request is already {job.status}")
        if job.status == Status.STREAMING:
            _stop(job)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(job.task)
        if job.ttl_handle is not None:
            job.ttl_handle.cancel()
        session = job.session
        if session is not None:
            if action == "reject":
                try:
                    await session.reject()
                except RoomClosed as exc:
                    await session.close()
                    raise SparkError(f"this Spark edit can no longer be rejected ({exc}); undo it by hand") from exc
            else:
                await session.accept()
        job.status = Status.REJECTED if action == "reject" else Status.ACCEPTED
        _jobs.pop(job.request_id, None)
    await _db(services.update_request)(job.request_id, status=job.status, session_channel="")
    await abroadcast_to_workspace(
        job.workspace_id, "spark.settled", {"id": job.request_id, "file_id": job.file_id, "status": job.status}
    )
    await _history(job)
    return {"id": job.request_id, "status": job.status}


def _stop(job: SparkJob) -> None:
    if job.session is not None:
        job.session.cancel()
    elif job.task is not None and not job.task.done():
        job.task.cancel()  # chat: cancelling the task closes the model stream
