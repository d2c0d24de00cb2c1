"""Where streamed text comes from: a model (with retries before the first token), or fixed text (ruff, chat apply)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from django.conf import settings

from workspace.llm import (
    ProviderConfig,
    ResponsesSocketUnavailable,
    StreamIncomplete,
    acquire_responses_socket,
    close_responses_socket,
    is_retryable,
    on_request_written,
    release_responses_socket,
    retry_delay,
)
from workspace.spark.prompts import FenceStripper
from workspace.spark.streamer import StreamStats

logger = logging.getLogger(__name__)

OFFLINE_CHUNK_CHARS = 64


async def without_fences(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    stripper = FenceStripper()
    try:
        async for piece in pieces:
            out = stripper.feed(piece)
            if out:
                yield out
        rest = stripper.finish()
        if rest:
            yield rest
    finally:
        await pieces.aclose()


async def model_pieces(config: ProviderConfig, messages: list[dict], stats: StreamStats) -> AsyncIterator[str]:
    """The model's answer as it streams: over the provider's Responses WebSocket when SPARK_TRANSPORT says so and
    the provider has one, else (and as the fallback) the chat-completions stream."""
    if config.transport == "responses-ws":
        try:
            socket = await acquire_responses_socket(config)
        except ResponsesSocketUnavailable as exc:
            logger.info("spark: %s; using the chat-completions stream", exc)
        else:
            pieces = responses_socket_pieces(config, socket, messages, stats)
            try:
                async for piece in pieces:
                    yield piece
            finally:
                await pieces.aclose()
            return
    pieces = chat_pieces(config, messages, stats)
    try:
        async for piece in pieces:
            yield piece
    finally:
        await pieces.aclose()


def responses_input(messages: list[dict]) -> tuple[str, list[dict]]:
    """Chat messages as the Responses API takes them: the system prompts as `instructions`, the rest as input items."""
    instructions = "\n\n".join(str(m["content"]) for m in messages if m.get("role") == "system")
    items = []
    for message in messages:
        role = message.get("role")
        if role in ("user", "assistant"):
            kind = "input_text" if role == "user" else "output_text"
            items.append(
                {"type": "message", "role": role, "content": [{"type": kind, "text": str(message["content"])}]}
            )
    return instructions, items


async def responses_socket_pieces(
    config: ProviderConfig, socket, messages: list[dict], stats: StreamStats
) -> AsyncIterator[str]:
    """Text deltas of one response over a pooled Responses WebSocket (events read as JSON directly). The connection
    goes back to the pool when the response completed, and is closed when it was cut short (a Stop) or failed."""
    instructions, items = responses_input(messages)
    event = {"type": "response.create", "model": config.model, "input": items, "store": False}
    if instructions:
        event["instructions"] = instructions
    completed = False
    try:
        stats.on_request_written()
        await socket.connection.send_raw(json.dumps(event))
        while True:
            message = json.loads(await socket.connection.recv_bytes())
            kind = message.get("type")
            if kind == "response.output_text.delta":
                delta = message.get("delta")
                if delta:
                    stats.on_token()
                    yield delta
            elif kind == "response.completed":
                usage = (message.get("response") or {}).get("usage") or {}
                if usage.get("output_tokens") is not None:
                    stats.usage_tokens = usage["output_tokens"]
                completed = True
                return
            elif kind == "error":
                error = message.get("error") or {}
                completed = True  # the connection itself is fine: the provider refused this response
                raise ProviderStreamError(_stream_error_message(error))
            elif kind in ("response.failed", "response.incomplete"):
                details = (message.get("response") or {}).get("error") or (message.get("response") or {}).get(
                    "incomplete_details"
                )
                raise StreamIncomplete(f"The model's response ended as {kind.split('.')[-1]}: {details or 'no reason'}")
    finally:
        if completed:
            release_responses_socket(config, socket)
        else:
            await close_responses_socket(socket)


async def chat_pieces(config: ProviderConfig, messages: list[dict], stats: StreamStats) -> AsyncIterator[str]:
    """Content deltas of a streamed chat completion.

    The request goes through the openai SDK (auth, HTTP errors as typed exceptions); the SSE body is read
    line by line here, since building a pydantic object per chunk costs more CPU than everything else on the
    path at thousands of tokens per second. Rate limits, 5xx answers and connection failures are retried
    with exponential backoff as long as no token has arrived (after that, a retry would duplicate text).
    Closing the generator closes the HTTP response at once. The client is the provider's pooled one (warm
    keep-alive connections).
    """
    client = config.pooled_async_client()
    on_request_written(stats.on_request_written)
    attempt = 0
    while True:
        received = False
        try:
            async with client.chat.completions.with_streaming_response.create(
                model=config.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            ) as response:
                finished = False
                async for chunk in sse_chunks(response.iter_lines()):
                    if chunk.get("error"):
                        raise ProviderStreamError(_stream_error_message(chunk["error"]))
                    usage = chunk.get("usage")
                    if usage:
                        stats.usage_tokens = usage.get("completion_tokens")
                    for choice in chunk.get("choices") or ():
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            received = True
                            stats.on_token()
                            yield content
                        if choice.get("finish_reason"):
                            finished = True
            if not finished:
                raise StreamIncomplete(
                    f"The model stream ended without finishing after {stats.pieces} tokens (connection closed)."
                )
            return
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised unless retryable
            if received or attempt >= config.max_retries or not is_retryable(exc):
                raise
            delay = retry_delay(attempt, exc)
            attempt += 1
            stats.retries = attempt
            logger.info("spark: retry %d after %s in %.2fs", attempt, type(exc).__name__, delay)
            await asyncio.sleep(delay)


async def sse_chunks(lines: AsyncIterator[str]) -> AsyncIterator[dict]:
    """JSON objects of a server-sent-event stream up to `data: [DONE]`; raises JSONDecodeError on garbage."""
    data: list[str] = []
    async for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue  # comments, "event:" / "id:" fields, keep-alive blank lines
        payload, data = "\n".join(data), []
        if payload == "[DONE]":
            return
        chunk = json.loads(payload)
        if isinstance(chunk, dict):
            yield chunk
    if data and data != ["[DONE]"]:
        chunk = json.loads("\n".join(data))
        if isinstance(chunk, dict):
            yield chunk


class ProviderStreamError(Exception):
    """The provider reported an error inside the stream."""


def _stream_error_message(error) -> str:
    message = error.get("message") if isinstance(error, dict) else str(error)
    return f"The model provider reported an error mid-stream: {message or 'unknown error'}"


async def text_pieces(text: str, stats: StreamStats, chunk_chars: int = OFFLINE_CHUNK_CHARS) -> AsyncIterator[str]:
    """Fixed text in small pieces, through the same pipeline as a model's tokens."""
    for start in range(0, len(text), chunk_chars):
        stats.on_token()
        yield text[start : start + chunk_chars]
        await asyncio.sleep(0)


class RuffError(Exception):
    """ruff could not process the file (e.g. a syntax error); the message says why."""


def ruff_binary() -> str:
    if settings.SPARK_RUFF_BINARY:
        return settings.SPARK_RUFF_BINARY
    sibling = Path(sys.executable).with_name("ruff")
    return str(sibling) if sibling.exists() else (shutil.which("ruff") or "ruff")


async def run_ruff(action: str, source: str, path: str) -> str:
    """`ruff format` or `ruff check --fix` over the text; returns the new text."""
    if action == "format":
        args = ["format", "--stdin-filename", path, "-"]
    elif action == "fix":
        args = ["check", "--fix", "--exit-zero", "--quiet", "--stdin-filename", path, "-"]
    else:
        raise ValueError(f"unknown ruff action {action!r}")
    process = await asyncio.create_subprocess_exec(
        ruff_binary(),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(source.encode()), settings.SPARK_RUFF_TIMEOUT)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise RuffError(f"ruff {action} took longer than {settings.SPARK_RUFF_TIMEOUT:g} s") from exc
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise RuffError(f"ruff {action} failed: {message[0] if message else f'exit code {process.returncode}'}")
    return stdout.decode()
