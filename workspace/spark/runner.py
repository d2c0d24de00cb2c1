"""Running Spark requests in the web process: start, stream, record, broadcast, cancel, accept, reject, refine.

A request runs as a background asyncio task in the Daphne process that received it. Its session stays
alive after the stream (the text is pending) until Accept, Reject or SPARK_PENDING_TTL. Control
messages for a session living in another process are published on its bus topic (`SparkRequest.session_channel`);
when no process holds the session any more (it was restarted), the process that got the message acts itself, from
what the request recorded (`SparkRequest.undo`, see `spark.undo`).

Failure policy: whatever was streamed before a failure or a Stop stays in the document, highlighted
and pending like a finished answer, so the user decides (Accept keeps it, Reject removes it and
restores any replaced text). A failure before the first token changes nothing.

Refinement: a request with `refine` names a pending edit; its stream replaces that edit's AI text (exactly its
characters) and carries the thread on, so Reject of the newest request restores the text from before the first one.
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
from workspace.collab import checkpoints, registry
from workspace.collab.attribution import SPARK, Author
from workspace.collab.room import RoomClosed
from workspace.collab.ydoc import doc_text
from workspace.llm import ProviderConfig, aresolve, describe_error
from workspace.spark import review, services, undo
from workspace.spark.models import SparkRequest
from workspace.spark.positions import byte_slice, from_relative_position, resolve_index, utf16_to_byte
from workspace.spark.prompts import (
    EditContext,
    HandOverSuggested,
    build_messages,
    build_refine_messages,
    detect_handover,
    long_task_reason,
    prompt_text,
)
from workspace.spark.services import EDIT_MODES, MODES, OFFLINE_MODES, SparkError
from workspace.spark.sources import RuffError, model_pieces, run_ruff, text_pieces, without_fences
from workspace.spark.streamer import CONTROL, SparkSession, StreamStats, control_topic
from workspace.spark.undo import EditRecord

logger = logging.getLogger(__name__)
Status = SparkRequest.Status
ACTIONS = ("cancel", "accept", "reject", "accept_hunks", "reject_hunks")
SETTLED = (Status.ACCEPTED, Status.REJECTED)
UNDO_SAVE_SECONDS = 1.0


class HandOverOffered(Exception):
    """The request looks like a long task: Spark offers the hand-over to Deep instead of streaming (the message is
    why). Sent again with `force`, it runs in Spark anyway."""


@dataclass
class SparkJob:
    """Everything about one request that lives in this process."""

    request_id: int | None  # None until the request is recorded (`recorded`)
    workspace_id: int
    file_id: int
    user_id: int
    mode: str
    instruction: str
    selection: dict
    content: str | None = None
    history: list[dict] = field(default_factory=list)
    config: ProviderConfig | None = None
    parent: SparkRequest | None = None
    session: SparkSession | None = None
    stats: StreamStats = field(default_factory=StreamStats)
    task: asyncio.Task | None = None
    status: str = Status.STREAMING
    settle_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ttl_handle: asyncio.TimerHandle | None = None
    last_progress: float = 0.0
    chat_text: str = ""
    handover: str = ""
    saving: asyncio.Task | None = None
    saved_pieces: int = 0
    saved_at: float = 0.0
    thread_id: int = 0
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    prompt: str | None = None
    stop_requested: bool = False


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
    refine: int | None = None,
    force: bool = False,
    received_ns: int | None = None,
) -> SparkJob:
    """Validate and record a request, then run it in the background. Raises SparkError, HandOverOffered."""
    received_ns = received_ns or time.monotonic_ns()
    if mode not in MODES:
        raise SparkError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    if len(instruction) > settings.SPARK_MAX_INSTRUCTION_CHARS:
        raise SparkError(f"the instruction is longer than {settings.SPARK_MAX_INSTRUCTION_CHARS} characters")
    node = await _file(file_id, workspace_id)
    parent = await _refined_request(refine, workspace_id, file_id) if refine is not None else None
    if parent is not None:
        mode = "replace"
    config = None
    if mode in OFFLINE_MODES:
        if node.language != "python":
            raise SparkError(f"{mode} (ruff) works on Python files only")
        model, base_url = f"ruff {mode}", ""
    elif content is not None and mode in EDIT_MODES and parent is None:
        model, base_url = "apply", ""  # applying code from the chat panel: no model call
    else:
        if not instruction.strip():
            raise SparkError("write an instruction for Spark")
        reason = None if force or parent is not None else long_task_reason(instruction)
        if reason:
            raise HandOverOffered(f"This looks like a long task for Deep mode: {reason}.")
        config = await aresolve("spark")
        if not config.configured:
            raise SparkError(config.public()["help"])
        model, base_url = config.model, config.base_url
    job = SparkJob(
        None,
        workspace_id,
        file_id,
        user_id,
        mode,
        instruction,
        selection or {},
        content,
        history or [],
        config,
        parent,
        stats=StreamStats(started_ns=received_ns),
    )
    # The model is asked while the request is being recorded: the database stays off the time-to-first-token path
    # (the session writes nothing before it has the request's id).
    job.task = asyncio.create_task(_run(job, node.path, node.language), name="spark-request")
    try:
        row = await _db(services.create_request)(
            workspace_id, file_id, user_id, mode, instruction, model, base_url, parent
        )
    except BaseException:
        _stop(job)
        job.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await job.task
        services.forget_file(file_id)
        raise
    job.request_id, job.thread_id = row.id, row.thread_id_or_own
    _jobs[row.id] = job
    job.recorded.set()
    if parent is not None:
        await _release_session_of(parent)
    await abroadcast_to_workspace(
        workspace_id,
        "spark.started",
        {
            "id": row.id,
            "file_id": file_id,
            "user_id": user_id,
            "mode": mode,
            "model": model,
            "instruction": instruction,
            "parent_id": parent.id if parent else None,
            "thread_id": row.thread_id_or_own,
        },
    )
    await _history(job)
    return job


async def _file(file_id: int, workspace_id: int) -> services.FileInfo:
    """The file, if it is one of this workspace's (usually known without the database: services.known_file)."""
    info = services.known_file(file_id) or await _db(services.load_file)(file_id)
    if info is None or info.workspace_id != workspace_id:
        raise SparkError("no such file in this workspace")
    return info


async def _refined_request(refine: int, workspace_id: int, file_id: int) -> SparkRequest:
    """The pending edit a follow-up refines (the newest request of its thread), stopped if it still streams here."""
    parent = await _db(services.get_request)(refine, workspace_id)
    if parent.mode == "chat" or parent.file_id != file_id:
        raise SparkError("only a pending edit of this file can be refined")
    live = _jobs.get(parent.id)
    if live is not None and live.status == Status.STREAMING:
        _stop(live)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(live.task)
        parent = await _db(services.get_request)(refine, workspace_id)
    if parent.status == Status.STREAMING:
        raise SparkError("this edit is still streaming in another process: stop it first")
    if not parent.pending or not services.holds_text(parent):
        raise SparkError(f"this Spark edit is {parent.status}: nothing pending to refine")
    heads = await _db(services.pending_heads)(workspace_id)
    if parent.id not in {head.id for head in heads}:
        raise SparkError("this edit was refined already: refine the newest one")
    return parent


async def _release_session_of(row: SparkRequest) -> None:
    """A refinement took over this edit's text: its session (here or elsewhere) ends without settling it."""
    job = _jobs.pop(row.id, None)
    if job is not None:
        if job.ttl_handle is not None:
            job.ttl_handle.cancel()
        if job.session is not None:
            await job.session.close()
    elif row.session_channel:
        await get_bus().publish(row.session_channel, {"type": CONTROL, "action": "release"})
    await _db(services.update_request)(row.id, session_channel="")


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
    model = job.config.model if job.config is not None else ""
    session = job.session = SparkSession(None, job.file_id, job.user_id, model=model)
    session.stats = job.stats
    session.on_control = lambda action, message: _control_from_bus(job, action, message.get("hunks"))
    text = await session.open()
    _background(_bind_when_recorded(job, session))
    try:
        pieces = await _pieces_for(job, session, text, path, language)
    except (SparkError, RuffError, ValueError) as exc:
        await _finish(job, Status.FAILED, str(exc))
        return
    error = ""
    try:
        await session.stream(pieces, on_progress=lambda: _progress(job))
        status = Status.CANCELLED if session.cancelled else Status.DONE
    except HandOverSuggested as exc:
        status, job.handover = Status.FAILED, str(exc) or "the model says this needs Deep mode"
        error = f"Spark suggests Deep mode for this: {job.handover}"
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
        job.prompt = f"ruff {job.mode} {path}"
        if new_text == text:
            return text_pieces("", job.stats)
        return text_pieces(new_text, job.stats)
    if job.parent is not None:
        return await _refine_pieces(job, session, text, path, language)
    start, end = _target(session, job.selection)
    session.set_target(start, end)
    if job.content is not None:
        job.prompt = f"apply from chat:\n{job.content}"
        return text_pieces(job.content, job.stats)
    mode = "replace" if job.mode == "replace" and end > start else "insert"
    context = EditContext(path, language, text, _char_index(text, start), _char_index(text, end), mode)
    messages = build_messages(context, job.instruction)
    _save_prompt(job, messages)
    return detect_handover(without_fences(model_pieces(job.config, messages, job.stats)))


async def _refine_pieces(job: SparkJob, session: SparkSession, text: str, path: str, language: str):
    parent = job.parent
    record = EditRecord.from_json(parent.undo)
    if not record.at:
        raise SparkError("this edit recorded nothing to refine")
    session.set_refine_target(record, parent.inserted_text)
    thread = await _db(services.thread_members)(parent)
    current = parent.inserted_text
    found = text.find(current) if current else -1
    start = found if found >= 0 else 0
    end = start + len(current) if found >= 0 else 0
    context = EditContext(path, language, text, start, end, "replace")
    instructions = [member.instruction for member in thread if member.instruction]
    messages = build_refine_messages(context, instructions, record.restore, current, job.instruction)
    _save_prompt(job, messages)
    return detect_handover(without_fences(model_pieces(job.config, messages, job.stats)))


async def _bind_when_recorded(job: SparkJob, session: SparkSession) -> None:
    await job.recorded.wait()
    await session.bind(job.request_id)


def _save_prompt(job: SparkJob, messages: list[dict]) -> None:
    """Recorded with the outcome: a database write in a thread near the first token would hold the event loop back
    (the GIL hand-over after each of the thread's network waits)."""
    job.prompt = prompt_text(messages)


_tasks: set[asyncio.Task] = set()


def _background(coro) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def _char_index(text: str, byte_offset: int) -> int:
    return len(byte_slice(text, 0, byte_offset))


def _target(session: SparkSession, selection: dict) -> tuple[int, int]:
    """Byte range of the selection sent by the browser: Yjs relative positions {anchor, head} (preferred: they
    survive concurrent edits) or UTF-16 offsets {start, end}. pycrdt places a relative position exactly only in
    text without multi-byte characters (y-crdt/pycrdt#382), so elsewhere the offsets are used when given."""
    if not isinstance(selection, dict):
        raise SparkError("selection must be an object")
    content = str(session.text)
    if "anchor" in selection and (content.isascii() or "start" not in selection):
        try:
            anchor = resolve_index(from_relative_position(session.text, selection["anchor"]))
            head = resolve_index(from_relative_position(session.text, selection.get("head", selection["anchor"])))
        except (ValueError, RuntimeError) as exc:
            raise SparkError("selection anchor/head must be Yjs relative positions") from exc
        return min(anchor, head), max(anchor, head)
    try:
        start = int(selection.get("start", len(content.encode("utf-16-le")) // 2))
        end = int(selection.get("end", start))
    except (TypeError, ValueError) as exc:
        raise SparkError("selection start/end must be integers") from exc
    return utf16_to_byte(content, start), utf16_to_byte(content, end)


async def _run_chat(job: SparkJob, path: str, language: str) -> None:
    """Chat answers stream to the panel (not into the file); code blocks are applied with mode insert/replace.
    Stop reaches the chat from any process through its bus topic, like an edit's session."""
    await job.recorded.wait()
    topic = control_topic(job.request_id)

    def on_control(message: dict) -> None:
        if message.get("type") == CONTROL and message.get("action") == "cancel" and job.status == Status.STREAMING:
            _stop(job)

    bus = get_bus()
    await bus.subscribe(topic, on_control)
    try:
        await _stream_chat(job, path, language)
    finally:
        with contextlib.suppress(Exception):
            await bus.unsubscribe(topic, on_control)


async def _stream_chat(job: SparkJob, path: str, language: str) -> None:
    room = registry.get_loaded(job.file_id)
    text = str(doc_text(room.doc)) if room is not None else await _db(services.file_text)(job.file_id)
    content_len = len(text.encode("utf-16-le")) // 2
    start = min(max(int(job.selection.get("start", 0) or 0), 0), content_len)
    end = min(max(int(job.selection.get("end", start) or start), start), content_len)
    start_c, end_c = _utf16_to_char(text, start), _utf16_to_char(text, end)
    messages = build_messages(EditContext(path, language, text, start_c, end_c, "chat"), job.instruction, job.history)
    _save_prompt(job, messages)
    status, error = Status.DONE, ""
    pieces = model_pieces(job.config, messages, job.stats)
    buffered, last_sent = "", 0.0
    try:
        async for piece in pieces:
            if job.stop_requested:
                # Stop asked: also when a library on the way swallowed the task's cancellation.
                status = Status.CANCELLED
                break
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
    if job.stats.first_published_ns is None:
        job.stats.first_published_ns = time.monotonic_ns()


# Progress and the record ---------------------------------------------------------------------------
async def _progress(job: SparkJob) -> None:
    now = time.monotonic()
    if job.request_id is None:
        return
    if now - job.last_progress < settings.SPARK_PROGRESS_INTERVAL_MS / 1000:
        return
    job.last_progress = now
    _save_undo_soon(job)
    await abroadcast_to_workspace(
        job.workspace_id, "spark.progress", {"id": job.request_id, "file_id": job.file_id, **job.stats.live()}
    )


def _save_undo_soon(job: SparkJob) -> None:
    """Keep the stored record close to the stream (at most UNDO_SAVE_SECONDS behind), so that a Reject after a crash
    of this process mid-stream still removes nearly everything. Only the ids: a few ranges, whatever the length."""
    session = job.session
    now = time.monotonic()
    if session is None or job.stats.pieces == job.saved_pieces or now - job.saved_at < UNDO_SAVE_SECONDS:
        return
    if job.saving is not None and not job.saving.done():
        return
    job.saved_pieces, job.saved_at = job.stats.pieces, now
    job.saving = _background(_db(services.update_request)(job.request_id, undo=session.record.as_json()))


def thread_view(members: list[SparkRequest]) -> list[dict]:
    return [
        {"id": m.id, "instruction": m.instruction, "status": m.status, "mode": m.mode, "user_id": m.user_id}
        for m in members
    ]


async def _finish(job: SparkJob, status: str, error: str) -> None:
    """Record the outcome of the stream and tell every browser; keep the session if text is pending."""
    await job.recorded.wait()
    session = job.session
    inserted = session.inserted if session else job.chat_text
    pending = session is not None and bool(session.inserted or session.replaced)
    job.status = status
    stats = job.stats
    if job.saving is not None:
        with contextlib.suppress(Exception):
            await job.saving
    fields = {
        "finished": True,
        "status": status,
        "error": error,
        "ttft_ms": stats.ttft_ms,
        "ttft_share_ms": stats.ttft_share_ms,
        "tokens": stats.tokens,
        "tokens_per_second": stats.tokens_per_second,
        "overhead_ms": stats.overhead_ms,
        "overhead_max_ms": stats.overhead_max_ms,
        "duration_ms": stats.duration_ms(),
        "retries": stats.retries,
        "inserted_text": inserted,
        "replaced_text": session.replaced if session else "",
        "session_channel": session.control_topic if pending else "",
    }
    if session is not None:
        fields["undo"] = session.record.as_json()
    if job.prompt is not None:
        fields["prompt"] = job.prompt
    await _db(services.update_request)(job.request_id, **fields)
    event = "spark.failed" if status == Status.FAILED else "spark.done"
    payload = {"id": job.request_id, "file_id": job.file_id, "status": status, "error": error, "pending": pending}
    if job.mode == "chat":
        payload["text"] = job.chat_text
    if job.handover:
        payload["handover"] = job.handover
    if pending:
        payload.update(await _db(_review_payload)(job.request_id))
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


def _review_payload(request_id: int) -> dict:
    """What the bar shows of a pending edit: its thread of instructions, its hunks and where its AI text is."""
    row = SparkRequest.objects.get(id=request_id)
    return review_view(row, services.thread_members(row))


def review_view(row: SparkRequest, members: list[SparkRequest]) -> dict:
    record = EditRecord.from_json(row.undo)
    region = None
    if record.own:
        first, last = record.own[0], record.own[-1]
        region = {
            "start": undo.id_position(first[0], first[1], 0),
            "end": undo.id_position(last[0], last[1] + last[2] - 1, -1),
        }
    return {
        "thread": thread_view(members),
        "thread_id": row.thread_id_or_own,
        "hunks": review.describe(record, row.inserted_text, row.hunks or {}),
        "region": region,
        "replaced_text": record.restore,
    }


def pending_view(row: SparkRequest) -> dict:
    """A pending edit as the page that opens rebuilds its bar from (sync ORM code)."""
    data = services.as_dict(row)
    data["pending"] = True
    data.update(review_view(row, services.thread_members(row)))
    return data


def pending_edits(workspace_id: int) -> list[dict]:
    return [pending_view(row) for row in services.pending_heads(workspace_id)]


async def _history(job: SparkJob) -> None:
    await abroadcast_to_workspace(
        job.workspace_id, "history.updated", {"kind": "spark", "id": job.request_id, "status": job.status}
    )


# Cancel / accept / reject ------------------------------------------------------------------------
async def control(
    request_id: int, action: str, workspace_id: int, hunks: list | None = None, user_id: int | None = None
) -> dict:
    """Carry out an action on a request from any process, for `user_id` (who asked). Raises SparkError with a
    clear reason."""
    if action not in ACTIONS:
        raise SparkError(f"unknown action {action!r}")
    row = await _db(services.get_request)(request_id, workspace_id)
    if action == "accept" and row.pending:  # the whole edit, all its hunks at once
        await _db(checkpoints.auto)(workspace_id, f"before accepting Spark request #{request_id}", user_id)
    job = _jobs.get(request_id)
    if job is not None:
        return await control_local(job, action, hunks)
    if action == "cancel" and row.status != Status.STREAMING:
        raise SparkError("this Spark request is not streaming any more")
    if action != "cancel" and not row.pending:
        raise SparkError(f"this Spark request is already {row.status}")
    if row.session_channel:
        message = {"type": CONTROL, "action": action, "hunks": hunks}
        if await get_bus().publish(row.session_channel, message):
            return {"id": request_id, "status": row.status, "queued": True}
    # No process holds the session any more (restarted or stopped): act here, from what the request recorded.
    if action == "cancel":
        await _db(services.update_request)(
            request_id, finished=True, status=Status.CANCELLED, error="the process streaming it stopped"
        )
        row.status = Status.CANCELLED
        await _announce(row, "spark.done", {"status": Status.CANCELLED, "pending": True})
        return {"id": request_id, "status": Status.CANCELLED}
    return await _settle(row, action, hunks)


async def _control_from_bus(job: SparkJob, action: str, hunks: list | None) -> None:
    try:
        await control_local(job, action, hunks)
    except SparkError as exc:  # the sender got its reply already ("queued"); the outcome reaches everyone by event
        logger.info("spark control %s of request %s refused: %s", action, job.request_id, exc)


async def control_local(job: SparkJob, action: str, hunks: list | None = None) -> dict:
    """Carry out an action on a session living in this process."""
    if action == "cancel":
        if job.status != Status.STREAMING:
            raise SparkError("this Spark request is not streaming any more")
        _stop(job)
        return {"id": job.request_id, "status": Status.CANCELLED}
    if action == "release":  # a refinement took the text over
        await _release_session_of(await _db(SparkRequest.objects.get)(id=job.request_id))
        return {"id": job.request_id, "status": job.status}
    async with job.settle_lock:
        if job.status in SETTLED:
            raise SparkError(f"this Spark request is already {job.status}")
        if job.status == Status.STREAMING:
            _stop(job)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(job.task)
        row = await _db(services.get_request)(job.request_id, job.workspace_id)
        result = await _settle(row, action, hunks)
        if result["status"] in SETTLED:
            job.status = result["status"]
            if job.ttl_handle is not None:
                job.ttl_handle.cancel()
            _jobs.pop(job.request_id, None)
            if job.session is not None:
                await job.session.close()
    return result


async def _settle(row: SparkRequest, action: str, hunks: list | None) -> dict:
    """Accept, Reject or decide hunks of a pending edit, from its stored record (the same in every process)."""
    origin = f"spark:{row.id}"
    record = EditRecord.from_json(row.undo)
    decisions = dict(row.hunks or {})
    if action == "accept":
        return await _settle_as(row, Status.ACCEPTED)
    if action == "reject" and not decisions:
        if not await _db(services.settle_thread)(row, Status.REJECTED):
            raise SparkError("this Spark request is already settled")
        try:
            await undo.reject(row.file_id, origin, record, author=_author(row))
        except RoomClosed as exc:
            await _db(services.update_request)(row.id, status=row.status, session_channel=row.session_channel)
            raise SparkError(f"this Spark edit could not be rejected now ({exc}); try again") from exc
        return await _settle_as(row, Status.REJECTED, claimed=True)
    # Per hunk (and Reject / Accept of all the hunks still undecided once some were decided).
    open_hunks = review.undecided(record, row.inserted_text, decisions)
    chosen = _chosen_hunks(open_hunks, None if action in ("accept", "reject") else hunks)
    if action in ("reject", "reject_hunks") and chosen:
        await _reject_hunks(row, record, chosen)
    for hunk in chosen:
        decisions[str(hunk.index)] = review.REJECTED if action in ("reject", "reject_hunks") else review.ACCEPTED
    await _db(services.update_request)(row.id, undo=record.as_json(), hunks=decisions)
    row.undo, row.hunks = record.as_json(), decisions
    if len(decisions) < len(review.hunks(record.restore, row.inserted_text)):
        await _announce(row, "spark.hunks", await _db(_review_payload)(row.id))
        return {"id": row.id, "status": row.status, "hunks": decisions}
    all_rejected = all(state == review.REJECTED for state in decisions.values())
    return await _settle_as(row, Status.REJECTED if all_rejected else Status.ACCEPTED)


def _author(row: SparkRequest) -> Author:
    """Whom a request's Reject is stored for: its user, through Spark and the request's model."""
    return Author(row.user_id, SPARK, row.model, str(row.id))


def _chosen_hunks(open_hunks: list[review.Hunk], indices: list | None) -> list[review.Hunk]:
    if indices is None:
        return open_hunks
    wanted = set()
    for index in indices:
        try:
            wanted.add(int(index))
        except (TypeError, ValueError) as exc:
            raise SparkError("hunks must be a list of hunk numbers") from exc
    chosen = [hunk for hunk in open_hunks if hunk.index in wanted]
    if not chosen:
        raise SparkError("no such undecided hunk")
    return chosen


async def _reject_hunks(row: SparkRequest, record: EditRecord, chosen: list[review.Hunk]) -> None:
    """One edit: each hunk's AI characters deleted and its old lines put back where its first character was."""

    def change(doc, text) -> None:
        for hunk in chosen:
            ids = hunk.ids(record)
            put_back = undo.delete_and_put_back(doc, text, ids, hunk.old, ids[0][:2] if ids else None)
            if put_back is not None:
                record.add_restored(*put_back)

    growth = sum(len(hunk.old.encode()) for hunk in chosen)
    try:
        await undo.edit_file(row.file_id, f"spark:{row.id}", change, growth=growth, author=_author(row))
    except RoomClosed as exc:
        raise SparkError(f"these hunks could not be rejected now ({exc}); try again") from exc


async def _settle_as(row: SparkRequest, status: str, *, claimed: bool = False) -> dict:
    if not claimed and not await _db(services.settle_thread)(row, status):
        raise SparkError("this Spark request is already settled")
    row.status = status
    await _announce(row, "spark.settled", {"status": status})
    await abroadcast_to_workspace(
        row.workspace_id, "history.updated", {"kind": "spark", "id": row.id, "status": status}
    )
    return {"id": row.id, "status": status}


async def _announce(row: SparkRequest, event: str, data: dict) -> None:
    await abroadcast_to_workspace(row.workspace_id, event, {"id": row.id, "file_id": row.file_id, **data})


def _stop(job: SparkJob) -> None:
    job.stop_requested = True
    if job.session is not None:
        job.session.cancel()
    elif job.task is not None and not job.task.done():
        job.task.cancel()  # chat: cancelling the task closes the model stream
