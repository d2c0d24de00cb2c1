"""Completions as you type: the ghost text the editor shows at the cursor, from the Spark model.

Where they run: on the workspace channel the editor already holds open (`spark.complete`), answered to that one
socket only. A keystroke then costs one WebSocket frame each way on a socket that is open and authenticated: no
HTTP request, handshake or cookie parsing per keystroke, no channel-layer hop (the answer is not broadcast), and the
cancel that a new keystroke sends travels on the same ordered socket as the request it cancels.

How: fill-in-the-middle where the provider supports it (`/v1/completions` with `suffix`: llama.cpp, vLLM, Ollama,
...), detected once per provider and model (a one-token probe, cached) unless SPARK_FIM forces it on or off; a chat
prompt with the prefix and suffix otherwise. At most one request per user is in flight: a new one (or a cancel)
cancels the previous one first, which closes its HTTP stream, so the provider stops generating. Text is sent as it
streams (the first piece at once, then at most every COALESCE_SECONDS). A small prefix cache answers repeated
requests, and typing through a suggestion, without a model call. Every request that reached the model, or the
cache, is recorded (`Completion`); the browser reports what the user did with it and its keystroke -> ghost text
latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings

from workspace.llm import TRANSPORT_ERRORS, ProviderConfig, aresolve, describe_error, on_request_written
from workspace.projects.models import FileNode
from workspace.spark import services
from workspace.spark.models import Completion, CompletionPreference, WorkspaceSparkSettings
from workspace.spark.prompts import FenceStripper
from workspace.spark.services import SparkError
from workspace.spark.sources import ProviderStreamError, sse_chunks
from workspace.spark.streamer import StreamStats

logger = logging.getLogger(__name__)

PREFIX_CHARS = 6000
SUFFIX_CHARS = 2000
COALESCE_SECONDS = 0.015
TYPED_THROUGH_CHARS = 80
FIM_PROBE_TIMEOUT = 5.0
OUTCOME_RANK = {
    Completion.Outcome.STREAMING: 0,
    Completion.Outcome.READY: 1,
    Completion.Outcome.EMPTY: 1,
    Completion.Outcome.CANCELLED: 1,
    Completion.Outcome.FAILED: 1,
    Completion.Outcome.SHOWN: 2,
    Completion.Outcome.DISMISSED: 3,
    Completion.Outcome.PARTIAL: 4,
    Completion.Outcome.ACCEPTED: 5,
}
REPORTABLE = (Completion.Outcome.SHOWN, Completion.Outcome.ACCEPTED, Completion.Outcome.PARTIAL, "dismissed")
SYSTEM_COMPLETE = (
    "You are a code completion engine. Reply with ONLY the text that goes at <CURSOR/>: no explanation, no markdown "
    "fences, nothing that is already before or after the cursor. Complete the current line and, where it is natural, "
    "a few more lines. Reply with nothing when there is nothing to add."
)

Send = Callable[[dict], Awaitable[None]]


# The provider -----------------------------------------------------------------------------------------------
async def completion_config() -> ProviderConfig:
    config = await aresolve("spark")
    if settings.SPARK_COMPLETION_MODEL and config.configured:
        config = dataclasses.replace(config, model=settings.SPARK_COMPLETION_MODEL)
    return config


_fim: dict[tuple[str, str], bool] = {}
_fim_probes: dict[tuple[str, str], asyncio.Future] = {}


def detected_fim(config: ProviderConfig) -> bool | None:
    """What the probe found for this provider and model (None: not probed yet in this process)."""
    return _fim.get((config.base_url, config.model))


async def fim_supported(config: ProviderConfig) -> bool:
    """Whether to use fill-in-the-middle: SPARK_FIM on/off, or (auto) a one-token probe per provider and model whose
    answer is kept for the life of the process (a failure to connect is not kept: the next request asks again)."""
    if config.fim in ("on", "off"):
        return config.fim == "on"
    key = (config.base_url, config.model)
    if key in _fim:
        return _fim[key]
    probe = _fim_probes.get(key)
    if probe is None or probe.get_loop() is not asyncio.get_running_loop():
        probe = _fim_probes[key] = asyncio.ensure_future(_probe_fim(config))
    try:
        return await asyncio.shield(probe)
    finally:
        if probe.done():
            _fim_probes.pop(key, None)


async def _probe_fim(config: ProviderConfig) -> bool:
    client = config.pooled_async_client()
    try:
        response = await asyncio.wait_for(
            client.completions.with_raw_response.create(
                model=config.model, prompt="def add(a, b):\n    return ", suffix="\n", max_tokens=1, temperature=0
            ),
            FIM_PROBE_TIMEOUT,
        )
        supported = bool(response.parse().choices)
    except (TimeoutError, *TRANSPORT_ERRORS) as exc:
        logger.info("spark completions: FIM probe of %s could not reach it (%s)", config.base_url, exc)
        return False
    except Exception as exc:  # noqa: BLE001 - any refusal (404 no route, 400 suffix unsupported, ...) means no FIM
        logger.info("spark completions: %s has no fill-in-the-middle (%s)", config.base_url, exc)
        supported = False
    _fim[(config.base_url, config.model)] = supported
    return supported


# Sources ----------------------------------------------------------------------------------------------------
async def fim_pieces(
    config: ProviderConfig, prefix: str, suffix: str, stats: StreamStats, max_tokens: int
) -> AsyncIterator[str]:
    """Text deltas of a streamed `/v1/completions` fill-in-the-middle request (SSE read directly, like chat)."""
    client = config.pooled_async_client()
    on_request_written(stats.on_request_written)
    async with client.completions.with_streaming_response.create(
        model=config.model, prompt=prefix, suffix=suffix, max_tokens=max_tokens, stream=True, temperature=0
    ) as response:
        async for chunk in sse_chunks(response.iter_lines()):
            if chunk.get("error"):
                raise ProviderStreamError(str(chunk["error"]))
            usage = chunk.get("usage")
            if usage:
                stats.usage_tokens = usage.get("completion_tokens")
            for choice in chunk.get("choices") or ():
                text = choice.get("text")
                if text:
                    stats.on_token()
                    yield text


def chat_messages(path: str, language: str, prefix: str, suffix: str) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM_COMPLETE},
        {"role": "user", "content": f"File: {path} (language: {language})\n<file>\n{prefix}<CURSOR/>{suffix}\n</file>"},
    ]


async def chat_pieces(
    config: ProviderConfig, messages: list[dict], stats: StreamStats, max_tokens: int
) -> AsyncIterator[str]:
    """The chat fallback: a streamed chat completion, markdown fences stripped on the fly."""
    client = config.pooled_async_client()
    on_request_written(stats.on_request_written)
    stripper = FenceStripper()
    async with client.chat.completions.with_streaming_response.create(
        model=config.model, messages=messages, max_tokens=max_tokens, stream=True, temperature=0
    ) as response:
        async for chunk in sse_chunks(response.iter_lines()):
            if chunk.get("error"):
                raise ProviderStreamError(str(chunk["error"]))
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    stats.on_token()
                    out = stripper.feed(content)
                    if out:
                        yield out
    rest = stripper.finish()
    if rest:
        yield rest


# The prefix cache -------------------------------------------------------------------------------------------
class PrefixCache:
    """The last few hundred answers by (scope, prefix, suffix) — the scope being the workspace and model, so no answer
    crosses workspaces; also answers a prefix that typed into a recent answer (the rest of it), so typing through a
    suggestion costs no request. Lookups compare the few recent prefixes of the same scope and suffix, never hash
    prefixes they cut."""

    RECENT = 8

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, str] = OrderedDict()
        self._recent: dict[tuple, list[str]] = {}

    def get(self, scope: tuple, prefix: str, suffix: str) -> str | None:
        text = self._entries.get((scope, prefix, suffix))
        if text is not None:
            self._entries.move_to_end((scope, prefix, suffix))
            return text
        for earlier in reversed(self._recent.get((scope, suffix), ())):
            typed = len(prefix) - len(earlier)
            if 0 < typed <= TYPED_THROUGH_CHARS and prefix.startswith(earlier):
                answer = self._entries.get((scope, earlier, suffix))
                if answer is not None and len(answer) > typed and answer.startswith(prefix[len(earlier) :]):
                    return answer[typed:]
        return None

    def put(self, scope: tuple, prefix: str, suffix: str, text: str) -> None:
        if self.size <= 0 or not text:
            return
        self._entries[(scope, prefix, suffix)] = text
        self._entries.move_to_end((scope, prefix, suffix))
        recent = self._recent.setdefault((scope, suffix), [])
        recent.append(prefix)
        del recent[: -self.RECENT]
        while len(self._entries) > self.size:
            (old_scope, old_prefix, old_suffix), _ = self._entries.popitem(last=False)
            old = self._recent.get((old_scope, old_suffix))
            if old is not None and old_prefix in old:
                old.remove(old_prefix)
                if not old:
                    del self._recent[(old_scope, old_suffix)]


_cache = PrefixCache(settings.SPARK_COMPLETION_CACHE_SIZE)


# Requests ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _InFlight:
    key: str
    task: asyncio.Task


_in_flight: dict[int, _InFlight] = {}


async def check_file(file_id: int, workspace_id: int) -> None:
    """The file belongs to the workspace (usually known without the database: services.known_file)."""
    info = services.known_file(file_id) or await database_sync_to_async(services.load_file)(file_id)
    if info is None or info.workspace_id != workspace_id:
        raise SparkError("no such file in this workspace")


async def cancel(user_id: int) -> bool:
    """Cancel the user's request in flight (its HTTP stream is closed before this returns)."""
    active = _in_flight.pop(user_id, None)
    if active is None or active.task.done():
        return False
    active.task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await active.task
    return True


async def start(
    *,
    send: Send,
    user_id: int,
    workspace_id: int,
    file_id: int,
    path: str,
    language: str,
    prefix: str,
    suffix: str,
    received_ns: int | None = None,
) -> str:
    """Start a completion for the text around the cursor; its text reaches `send` as `spark.completion` events.
    Returns its key. Raises SparkError."""
    received_ns = received_ns or time.monotonic_ns()
    await cancel(user_id)
    await check_file(file_id, workspace_id)
    config = await completion_config()
    if not config.configured:
        raise SparkError(config.public()["help"])
    prefix, suffix = prefix[-PREFIX_CHARS:], suffix[:SUFFIX_CHARS]
    key = uuid.uuid4().hex
    base = {"key": key, "user_id": user_id, "workspace_id": workspace_id, "file_id": file_id, "model": config.model}
    scope = (workspace_id, config.model)
    cached = _cache.get(scope, prefix, suffix)
    if cached is not None:
        # Sent right after the reply that names the key, like a streamed answer.
        _background(send({"type": "spark.completion", "key": key, "text": cached, "done": True, "cached": True}))
        server_ms = (time.monotonic_ns() - received_ns) / 1e6
        _record(
            key, _create, dict(base, cached=True, text=cached, outcome=Completion.Outcome.READY, server_ms=server_ms)
        )
        return key
    stats = StreamStats(started_ns=received_ns)
    task = asyncio.get_running_loop().create_task(
        _run(send, config, key, base, path, language, prefix, suffix, stats), name=f"completion-{key}"
    )
    previous = _in_flight.get(user_id)
    if previous is not None:  # started meanwhile from another socket of the user
        previous.task.cancel()
    _in_flight[user_id] = _InFlight(key, task)
    task.add_done_callback(lambda _: _forget(user_id, key))
    return key


def _forget(user_id: int, key: str) -> None:
    active = _in_flight.get(user_id)
    if active is not None and active.key == key:
        del _in_flight[user_id]


async def _run(
    send: Send,
    config: ProviderConfig,
    key: str,
    base: dict,
    path: str,
    language: str,
    prefix: str,
    suffix: str,
    stats: StreamStats,
) -> None:
    max_tokens = settings.SPARK_COMPLETION_MAX_TOKENS
    fim = await fim_supported(config)
    _record(key, _create, dict(base, fim=fim))
    if fim:
        pieces = fim_pieces(config, prefix, suffix, stats, max_tokens)
    else:
        pieces = chat_pieces(config, chat_messages(path, language, prefix, suffix), stats, max_tokens)
    text, buffered, sent_at = "", "", 0.0
    outcome, error = Completion.Outcome.READY, ""
    try:
        async for piece in pieces:
            text += piece
            buffered += piece
            now = time.monotonic()
            if now - sent_at >= COALESCE_SECONDS:
                await send({"type": "spark.completion", "key": key, "text": buffered, "done": False})
                buffered, sent_at = "", now
                if stats.first_published_ns is None:
                    stats.first_published_ns = time.monotonic_ns()
        await send({"type": "spark.completion", "key": key, "text": buffered, "done": True})
        if not text.strip():
            outcome = Completion.Outcome.EMPTY
        _cache.put((base["workspace_id"], config.model), prefix, suffix, text)
    except asyncio.CancelledError:
        outcome = Completion.Outcome.CANCELLED
        raise
    except Exception as exc:  # noqa: BLE001 - a failed completion shows nothing; the reason is recorded
        outcome, error = Completion.Outcome.FAILED, describe_error(exc, config, tokens=stats.pieces)
        with contextlib.suppress(Exception):
            await send({"type": "spark.completion", "key": key, "text": "", "done": True, "error": error})
    finally:
        await pieces.aclose()
        _record(
            key,
            _finish,
            {
                "outcome": outcome,
                "error": error,
                "text": text,
                "tokens": stats.tokens,
                "ttft_ms": _model_ttft(stats),
                "server_ms": stats.ttft_share_ms,
            },
        )


def _model_ttft(stats: StreamStats) -> float | None:
    """The model's own time to first token: request written -> first token read."""
    if stats.request_written_ns is None or stats.first_token_ns is None:
        return None
    return (stats.first_token_ns - stats.request_written_ns) / 1e6


# Recording (off the keystroke path, in order per completion) -----------------------------------------------
_chains: dict[str, asyncio.Task] = {}
_tasks: set[asyncio.Task] = set()


def _background(coro) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _record(key: str, func: Callable[..., None], fields: dict) -> None:
    previous = _chains.get(key)

    async def run() -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        try:
            await database_sync_to_async(func)(key, fields)
        except Exception:  # noqa: BLE001 - a lost record must not break completions
            logger.warning("could not record completion %s", key, exc_info=True)

    task = asyncio.get_running_loop().create_task(run())
    _chains[key] = task
    task.add_done_callback(lambda done: _chains.pop(key, None) if _chains.get(key) is done else None)


async def flush_records() -> None:
    """Wait for every pending record write (tests, benches)."""
    while _chains:
        await asyncio.gather(*list(_chains.values()), return_exceptions=True)


def _create(key: str, fields: dict) -> None:
    fields = dict(fields)
    if not FileNode.objects.filter(id=fields["file_id"]).exists():
        fields["file_id"] = None
    key = fields.pop("key", key)
    Completion.objects.update_or_create(key=key, defaults=fields)


def _finish(key: str, fields: dict) -> None:
    row = Completion.objects.filter(key=key).first()
    if row is None:
        return
    if OUTCOME_RANK.get(row.outcome, 0) > OUTCOME_RANK[Completion.Outcome.READY]:
        fields = {k: v for k, v in fields.items() if k != "outcome"}  # already shown: keep what the user did
    Completion.objects.filter(key=key).update(**fields)


def report(key: str, user_id: int, outcome: str, latency_ms: float | None, accepted_chars: int | None) -> None:
    """What the user did with a completion (sync ORM code): shown (with its keystroke -> ghost latency), accepted,
    partial (Ctrl+→), dismissed. An outcome never goes back (accepted stays accepted)."""
    if outcome not in REPORTABLE:
        raise SparkError(f"unknown outcome {outcome!r}; one of {', '.join(REPORTABLE)}")
    row = Completion.objects.filter(key=key, user_id=user_id).first()
    if row is None:
        raise SparkError("no such completion")
    fields: dict = {}
    if OUTCOME_RANK[outcome] > OUTCOME_RANK.get(row.outcome, 0):
        fields["outcome"] = outcome
    if latency_ms is not None and row.latency_ms is None and 0 <= latency_ms < 600_000:
        fields["latency_ms"] = latency_ms
    if accepted_chars is not None and accepted_chars > row.accepted_chars:
        fields["accepted_chars"] = min(accepted_chars, len(row.text) or accepted_chars)
    if fields:
        Completion.objects.filter(id=row.id).update(**fields)


async def areport(key: str, user_id: int, outcome: str, latency_ms: float | None, accepted_chars: int | None) -> None:
    """`report`, after the completion's own record writes."""
    previous = _chains.get(key)
    if previous is not None:
        with contextlib.suppress(Exception):
            await previous
    await database_sync_to_async(report)(key, user_id, outcome, latency_ms, accepted_chars)


# The switches -----------------------------------------------------------------------------------------------
def completion_settings(user_id: int, workspace_id: int, configured: bool, fim: str) -> dict:
    """Whether completions as you type are on for this user here: their own switch if they set one, else the
    workspace's default; always off while no model is configured (sync ORM code)."""
    choice = CompletionPreference.objects.filter(user_id=user_id).values_list("enabled", flat=True).first()
    default = (
        WorkspaceSparkSettings.objects.filter(workspace_id=workspace_id)
        .values_list("completions_default", flat=True)
        .first()
    )
    default = True if default is None else default
    return {
        "enabled": configured and (default if choice is None else choice),
        "user_choice": choice,
        "workspace_default": default,
        "configured": configured,
        "fim": fim,
        "debounce_ms": settings.SPARK_COMPLETION_DEBOUNCE_MS,
    }


def set_user_choice(user_id: int, enabled: bool | None) -> None:
    if enabled is None:
        CompletionPreference.objects.filter(user_id=user_id).delete()
    else:
        CompletionPreference.objects.update_or_create(user_id=user_id, defaults={"enabled": enabled})


def set_workspace_default(workspace_id: int, enabled: bool) -> None:
    WorkspaceSparkSettings.objects.update_or_create(
        workspace_id=workspace_id, defaults={"completions_default": enabled}
    )
