"""Model access for Spark and Deep modes: one OpenAI-compatible chat-completions endpoint per mode.

Configured by SPARK_* / DEEP_* settings (base URL, API key, model). When a mode has no base URL, a
local Ollama server (OLLAMA_FALLBACK_URL) is used if it answers; otherwise the mode is unconfigured
and `ProviderNotConfigured` carries a message saying how to configure it.

    config = await aresolve("deep")            # or resolve("deep") from sync code (Celery)
    client = config.async_client()             # AsyncOpenAI (or config.client() for the sync SDK)
    await client.chat.completions.create(model=config.model, ...)

`describe_error(exc, config)` turns any SDK/HTTP failure into a sentence for the user.

Streaming callers use `config.pooled_async_client()`: one SDK client per provider and event loop, kept for the
life of the process, so requests reuse warm keep-alive connections (no TCP/TLS handshake on the time-to-first-
token path). `on_request_written` lets a caller learn the moment its request leaves for the model server.

With `{MODE}_TRANSPORT=responses-ws`, requests go over the provider's Responses API WebSocket mode instead (one
persistent connection to `/v1/responses`, `response.create` events in, `response.*` events out, one response at a
time per connection): `acquire_responses_socket` hands out an idle pooled connection (or opens one), and a provider
that refuses the upgrade is remembered, so its requests fall back to the chat-completions stream.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import httpx
import openai
from asgiref.sync import sync_to_async
from django.conf import settings

try:  # the openai SDK (3.x) runs on its own copy of httpx; errors raised mid-stream are of that copy's classes
    import httpx2

    _SDK_HTTPX = (httpx2,)
except ImportError:  # pragma: no cover - older SDKs use httpx itself
    _SDK_HTTPX = ()
TIMEOUT_ERRORS = (openai.APITimeoutError, TimeoutError, httpx.TimeoutException) + tuple(
    m.TimeoutException for m in _SDK_HTTPX
)
TRANSPORT_ERRORS = (openai.APIConnectionError, httpx.TransportError) + tuple(m.TransportError for m in _SDK_HTTPX)

MODES = ("spark", "deep")
FIM_CHOICES = ("auto", "on", "off")
TRANSPORTS = ("chat", "responses-ws")
OLLAMA_PROBE_TIMEOUT = 0.5
OLLAMA_CACHE_SECONDS = 30.0
# Local servers (Ollama, llama.cpp, vLLM) accept any key, but the SDK requires one.
PLACEHOLDER_KEY = "sk-no-key"


class ProviderNotConfigured(Exception):
    """No model endpoint for this mode; the message says how to configure one."""


@dataclass(frozen=True)
class ProviderConfig:
    mode: str
    base_url: str
    api_key: str
    model: str
    timeout: float
    max_retries: int
    source: str  # "env" (settings), "ollama" (local fallback) or "none"
    # Fill-in-the-middle (/v1/completions with `suffix`) for completions as you type: auto (probed once), on, off.
    fim: str = "auto"
    # How requests reach the model: "chat" (chat-completions stream over HTTP) or "responses-ws" (the responses
    # API over one persistent WebSocket, where the provider offers it; the chat stream is the fallback).
    transport: str = "chat"

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    @property
    def env_prefix(self) -> str:
        return self.mode.upper()

    def async_client(self, max_retries: int = 0) -> openai.AsyncOpenAI:
        """An SDK client; retries default to 0 because callers retry themselves (see Spark's source)."""
        self.require()
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key or PLACEHOLDER_KEY,
            timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            max_retries=max_retries,
        )

    def pooled_async_client(self) -> openai.AsyncOpenAI:
        """This provider's shared SDK client on the running event loop (never close it); no SDK retries."""
        self.require()
        clients = _pooled.setdefault(asyncio.get_running_loop(), {})
        key = (self.base_url, self.api_key, self.timeout)
        client = clients.get(key)
        if client is None:
            http = openai.DefaultAsyncHttpxClient(
                timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=_pool_limits(),
                event_hooks={"request": [_on_request]},
            )
            client = clients[key] = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key or PLACEHOLDER_KEY, max_retries=0, http_client=http
            )
        return client

    def client(self, max_retries: int | None = None) -> openai.OpenAI:
        self.require()
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key or PLACEHOLDER_KEY,
            timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            max_retries=self.max_retries if max_retries is None else max_retries,
        )

    def require(self) -> None:
        if not self.configured:
            raise ProviderNotConfigured(how_to_configure(self.mode))

    def public(self) -> dict:
        """What the settings page and API show: never the key itself."""
        return {
            "mode": self.mode,
            "configured": self.configured,
            "source": self.source,
            "base_url": self.base_url,
            "model": self.model,
            "api_key_set": bool(self.api_key),
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "fim": self.fim,
            "transport": self.transport,
            "help": "" if self.configured else how_to_configure(self.mode),
        }


_pooled: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)
_written: ContextVar[Callable[[], None] | None] = ContextVar("llm_request_written", default=None)


def _pool_limits():
    limits = dict(max_connections=100, max_keepalive_connections=20, keepalive_expiry=settings.LLM_KEEPALIVE_SECONDS)
    return _SDK_HTTPX[0].Limits(**limits) if _SDK_HTTPX else httpx.Limits(**limits)


async def _on_request(request) -> None:
    callback = _written.get()
    if callback is not None:
        callback()


# The Responses API's WebSocket mode ------------------------------------------------------------------------
# A connection lives at most 60 minutes on OpenAI's side; pooled ones are retired before that.
RESPONSES_SOCKET_MAX_AGE = 55 * 60.0


class ResponsesSocketUnavailable(Exception):
    """The provider offers no WebSocket mode (or could not be reached that way): use the chat-completions stream."""


@dataclass
class ResponsesSocket:
    """One persistent connection to a provider's `/v1/responses` WebSocket (the SDK's connection object)."""

    connection: object
    opened: float


_sockets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, list[ResponsesSocket]]] = (
    weakref.WeakKeyDictionary()
)
_no_sockets: set[tuple[str, str]] = set()


async def acquire_responses_socket(config: ProviderConfig) -> ResponsesSocket:
    """An idle connection of this provider's pool, or a new one. Raises ResponsesSocketUnavailable."""
    key = (config.base_url, config.api_key)
    if key in _no_sockets:
        raise ResponsesSocketUnavailable(f"{config.base_url} has no WebSocket mode")
    idle = _sockets.setdefault(asyncio.get_running_loop(), {}).setdefault(key, [])
    while idle:
        socket = idle.pop()
        if time.monotonic() - socket.opened < RESPONSES_SOCKET_MAX_AGE:
            return socket
        await close_responses_socket(socket)
    try:
        connection = await config.pooled_async_client().responses.connect().enter()
    except Exception as exc:  # noqa: BLE001 - any failure to connect falls back to the chat stream
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is not None and 400 <= status < 500 and status not in (401, 403, 408, 429):
            _no_sockets.add(key)  # refused for good (no such route, no upgrade): do not ask again
        raise ResponsesSocketUnavailable(f"no WebSocket mode at {config.base_url}: {exc}") from exc
    return ResponsesSocket(connection, time.monotonic())


def release_responses_socket(config: ProviderConfig, socket: ResponsesSocket) -> None:
    """A connection whose last response completed: back into the pool for the next request."""
    _sockets.setdefault(asyncio.get_running_loop(), {}).setdefault((config.base_url, config.api_key), []).append(socket)


async def close_responses_socket(socket: ResponsesSocket) -> None:
    """A connection that must not be reused (its response was cut short or failed): closed."""
    try:
        await socket.connection.close()
    except Exception:  # noqa: BLE001, S110 - closing a connection that is already gone
        pass


def on_request_written(callback: Callable[[], None] | None) -> None:
    """From now on in the current task, `callback()` runs each time a pooled client sends a request (after the SDK
    built it, right before its bytes are written). Tasks copy the context they start from, so this stays within the
    task (e.g. the one reading a stream) and whatever it starts."""
    _written.set(callback)


def how_to_configure(mode: str) -> str:
    prefix = mode.upper()
    return (
        f"No model is configured for {mode} mode. Set {prefix}_BASE_URL (an OpenAI-compatible /v1 endpoint, "
        f"e.g. https://api.cerebras.ai/v1, https://api.groq.com/openai/v1 or http://127.0.0.1:8080/v1 for llama.cpp), "
        f"{prefix}_API_KEY and {prefix}_MODEL, then restart Sparkroom; or run Ollama locally "
        f"({settings.OLLAMA_FALLBACK_URL}) with a model pulled."
    )


def _mode_settings(mode: str) -> tuple[str, str, str, float, int]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
    prefix = mode.upper()
    return (
        getattr(settings, f"{prefix}_BASE_URL", ""),
        getattr(settings, f"{prefix}_API_KEY", ""),
        getattr(settings, f"{prefix}_MODEL", ""),
        float(getattr(settings, f"{prefix}_TIMEOUT", 30.0)),
        int(getattr(settings, f"{prefix}_MAX_RETRIES", settings.SPARK_MAX_RETRIES)),
    )


def _mode_choices(mode: str) -> dict:
    prefix = mode.upper()
    fim = str(getattr(settings, f"{prefix}_FIM", "auto") or "auto").lower()
    transport = str(getattr(settings, f"{prefix}_TRANSPORT", "chat") or "chat").lower()
    return {
        "fim": fim if fim in FIM_CHOICES else "auto",
        "transport": transport if transport in TRANSPORTS else "chat",
    }


_ollama_cache: dict[str, tuple[float, list[str]]] = {}


def _ollama_models() -> list[str]:
    """Models served by the local Ollama fallback ([] when it does not answer); cached briefly."""
    url = settings.OLLAMA_FALLBACK_URL
    if not url:
        return []
    cached = _ollama_cache.get(url)
    if cached and time.monotonic() - cached[0] < OLLAMA_CACHE_SECONDS:
        return cached[1]
    try:
        response = httpx.get(f"{url.rstrip('/')}/models", timeout=OLLAMA_PROBE_TIMEOUT)
        models = [m["id"] for m in response.json().get("data", [])] if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        models = []
    _ollama_cache[url] = (time.monotonic(), models)
    return models


def resolve(mode: str) -> ProviderConfig:
    """The endpoint for a mode (sync; may probe the local Ollama once per 30 s)."""
    base_url, api_key, model, timeout, retries = _mode_settings(mode)
    choices = _mode_choices(mode)
    if base_url:
        return ProviderConfig(mode, base_url.rstrip("/"), api_key, model, timeout, retries, "env", **choices)
    models = _ollama_models()
    if models:
        chosen = model if model in models else models[0]
        base = settings.OLLAMA_FALLBACK_URL.rstrip("/")
        return ProviderConfig(mode, base, "", chosen, timeout, retries, "ollama", **choices)
    return ProviderConfig(mode, "", "", model, timeout, retries, "none", **choices)


_resolve_in_thread = sync_to_async(resolve, thread_sensitive=False)


async def aresolve(mode: str) -> ProviderConfig:
    """`resolve` from async code: at once when the endpoint is configured (no thread hop on the time-to-first-token
    path), in a thread when the local Ollama must be probed."""
    if _mode_settings(mode)[0]:
        return resolve(mode)
    return await _resolve_in_thread(mode)


def describe_error(exc: BaseException, config: ProviderConfig | None = None, *, tokens: int = 0) -> str:
    """A clear, user-facing sentence for a failed model call."""
    where = f" at {config.base_url}" if config else ""
    prefix = config.env_prefix if config else "SPARK"
    model = config.model if config else "?"
    if isinstance(exc, ProviderNotConfigured):
        return str(exc)
    if isinstance(exc, openai.AuthenticationError):
        return f"The model provider{where} rejected the API key (401). Check {prefix}_API_KEY."
    if isinstance(exc, openai.PermissionDeniedError):
        return f"The API key may not use model {model!r}{where} (403)."
    if isinstance(exc, openai.NotFoundError):
        return f"Model {model!r} was not found{where} (404). Check {prefix}_MODEL."
    if isinstance(exc, openai.RateLimitError):
        return f"The model provider{where} is rate limiting requests (429); retries exhausted. Try again shortly."
    if isinstance(exc, openai.APIStatusError):
        return f"The model provider{where} failed with HTTP {exc.status_code}: {_status_message(exc)}"
    if isinstance(exc, TIMEOUT_ERRORS):
        timeout = f" within {config.timeout:g} s" if config else ""
        stage = f"after {tokens} tokens" if tokens else "before the first token"
        return f"The model stopped responding{timeout} ({stage}); timed out."
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return f"The model sent a malformed stream chunk after {tokens} tokens; stopped."
    if isinstance(exc, TRANSPORT_ERRORS):
        if tokens:
            return f"The connection to the model dropped mid-stream after {tokens} tokens."
        return f"Could not connect to the model provider{where}: {_root_cause(exc)}."
    if isinstance(exc, StreamIncomplete) or type(exc).__name__ == "ProviderStreamError":
        return str(exc)
    return f"The model call failed: {type(exc).__name__}: {exc}"


class StreamIncomplete(Exception):
    """The stream ended without a finish reason (the server closed it early)."""


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def is_retryable(exc: BaseException) -> bool:
    """Worth retrying when nothing has been streamed yet: rate limits, server errors, lost connections."""
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, TRANSPORT_ERRORS) and not isinstance(exc, TIMEOUT_ERRORS)


def retry_delay(attempt: int, exc: BaseException, base: float = 0.25, cap: float = 8.0) -> float:
    """Exponential backoff (0.25, 0.5, 1 s, ...), honouring a short Retry-After header."""
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return min(max(float(header), 0.0), cap)
        except ValueError:
            pass
    return min(base * (2**attempt), cap)
