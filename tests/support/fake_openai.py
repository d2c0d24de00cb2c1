"""A fake OpenAI-compatible model server for tests and benchmarks (real HTTP, real SSE, a real WebSocket).

    with FakeModelServer(tokens_per_second=2000, ttft=0.05) as server:
        server.script(FakeResponse(content="x = 1\n"))
        server.fault("429")            # the next request gets a 429 before any token
        client = AsyncOpenAI(base_url=server.base_url, api_key="k")

Routes: `/v1/chat/completions` (streamed or not), `/v1/completions` (legacy text completions with `suffix`, i.e.
fill-in-the-middle, as llama.cpp, vLLM and Ollama serve it; `fim=False` answers 404 like a chat-only provider;
scripted with `script_completion`, a non-streamed request is answered without consuming the script, as the
FIM probe is), `/v1/models`, and the Responses API's WebSocket mode on `/v1/responses` (`response.create` in,
`response.*` events out, one response at a time per connection, as documented by OpenAI; `responses_ws=False`
refuses the upgrade with 404). Every stream is tracked in `streams`: when it opened, when it ended and whether
the client closed it first, which the server notices at once, also while it waits for the first token.

Streams use HTTP/1.1 chunked encoding, so a "drop" fault (socket closed mid-body) looks to the client
exactly like a real connection loss. Run standalone: `python -m tests.support.fake_openai --port 8011 --tps 1000`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import select
import socket
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TEXT = (
    "def fibonacci(n: int) -> int:\n"
    '    """Return the n-th Fibonacci number."""\n'
    "    a, b = 0, 1\n"
    "    for _ in range(n):\n"
    "        a, b = b, a + b\n"
    "    return a\n"
)
TOKEN_PATTERN = re.compile(r"\w+|\s+|[^\w\s]")
FAULT_KINDS = {"429", "500", "401", "404", "stall", "drop", "malformed"}
HTTP_FAULTS = {"429": 429, "500": 500, "401": 401, "404": 404}
ERROR_TEXT = {
    429: ("Rate limit reached for requests", "rate_limit_exceeded", "requests"),
    500: ("The server had an error while processing your request.", "server_error", "server_error"),
    401: ("Incorrect API key provided.", "invalid_api_key", "invalid_request_error"),
    404: ("The model does not exist or you do not have access to it.", "model_not_found", "invalid_request_error"),
}


def split_tokens(content: str) -> list[str]:
    """Split text into word / whitespace / punctuation tokens; joining them gives the text back."""
    return TOKEN_PATTERN.findall(content)


@dataclass
class FakeResponse:
    content: str = ""
    tool_calls: list[dict] | None = None
    # Optional explicit token split (else split_tokens(content)) and per-response speed override.
    tokens: list[str] | None = None
    tokens_per_second: float | None = None
    # Pause the stream after `hold_after` tokens until `hold` is set (a test's "while it is still streaming").
    hold: threading.Event | None = field(default=None, repr=False, compare=False)
    hold_after: int = 0


@dataclass
class StreamRecord:
    """One streamed answer: times are time.monotonic(); `closed_by_client` when the client went away first."""

    path: str
    opened: float
    ended: float | None = None
    closed_by_client: bool = False
    tokens_sent: int = 0
    connection: socket.socket | None = field(default=None, repr=False, compare=False)

    def finish(self) -> None:
        if self.ended is None:
            self.ended = time.monotonic()


def _closed_by_peer(connection: socket.socket) -> bool:
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class ClientClosed(Exception):
    """The client closed the connection while the server was streaming to it."""


@dataclass
class _Fault:
    kind: str
    after_tokens: int
    remaining: int


@dataclass
class FakeModelServer:
    tokens_per_second: float = 1000.0
    ttft: float = 0.0
    model: str = "fake-model"
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    stall_seconds: float = 60.0
    fim: bool = True  # /v1/completions accepts `suffix`
    responses_ws: bool = True  # /v1/responses speaks WebSocket mode
    requests: list[dict] = field(default_factory=list)
    emitted: list[tuple[str, int]] = field(default_factory=list)
    streams: list[StreamRecord] = field(default_factory=list)
    ws_connections: int = 0

    def __post_init__(self) -> None:
        self._responses: deque[FakeResponse] = deque()
        self._completions: deque[FakeResponse] = deque()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # Lifecycle -----------------------------------------------------------------------------------
    def start(self) -> FakeModelServer:
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._httpd = _Server((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # Scripting -----------------------------------------------------------------------------------
    def script(self, *responses: FakeResponse) -> None:
        """Queue responses; each request consumes one. When empty, DEFAULT_TEXT is streamed."""
        with self._lock:
            self._responses.extend(responses)

    def script_completion(self, *responses: FakeResponse) -> None:
        """Queue answers of streamed `/v1/completions` requests (else DEFAULT_TEXT)."""
        with self._lock:
            self._completions.extend(responses)

    def open_streams(self) -> int:
        with self._lock:
            return sum(1 for stream in self.streams if stream.ended is None)

    def max_concurrent_streams(self) -> int:
        """The most streams that were open at the same moment."""
        with self._lock:
            edges = [(s.opened, 1) for s in self.streams] + [(s.ended, -1) for s in self.streams if s.ended]
        level = peak = 0
        for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
            level += step
            peak = max(peak, level)
        return peak

    def _open_stream(self, path: str, connection: socket.socket | None = None) -> StreamRecord:
        """Track a new stream. Streams whose client has already closed are marked ended first: their own threads may
        not have run yet (the GIL), and a stream must never look open after the client closed it."""
        with self._lock:
            for stream in self.streams:
                if stream.ended is None and stream.connection is not None and _closed_by_peer(stream.connection):
                    stream.closed_by_client = True
                    stream.finish()
            record = StreamRecord(path, time.monotonic(), connection=connection)
            self.streams.append(record)
        return record

    def fault(self, kind: str, after_tokens: int = 0, times: int = 1) -> None:
        """Make the next `times` requests fail with `kind` (HTTP faults happen before any token)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, after_tokens, times))

    def reset(self) -> None:
        with self._lock:
            self._responses.clear()
            self._completions.clear()
            self._faults.clear()
            self.requests.clear()
            self.emitted.clear()
            self.streams.clear()

    def _next(self, queue: deque[FakeResponse] | None = None) -> tuple[FakeResponse, _Fault | None]:
        queue = self._responses if queue is None else queue
        with self._lock:
            fault = None
            if self._faults:
                fault = self._faults[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.popleft()
            # A request refused before streaming does not consume the scripted response.
            if fault is not None and fault.kind in HTTP_FAULTS:
                return FakeResponse(), fault
            response = queue.popleft() if queue else FakeResponse(content=DEFAULT_TEXT)
            return response, fault


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that closed its idle keep-alive connection is no error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _error_body(status: int, message: str | None = None) -> dict:
    text, code, kind = ERROR_TEXT[status]
    return {"error": {"message": message or text, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeModelServer
    protocol_version = "HTTP/1.1"
    _ws: _WebSocket | None = None
    # Like real model servers (uvicorn, Node, Go all set TCP_NODELAY): each token chunk leaves at once instead of
    # waiting behind Nagle's algorithm for the ACK of the previous one (stalls of up to the 40 ms delayed ACK).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence per-request logging
        return

    # Plumbing ------------------------------------------------------------------------------------
    def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if not self.fake.api_key:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {self.fake.api_key}"

    def _chunk(self, payload: bytes) -> None:
        self.wfile.write(f"{len(payload):X}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def _event(self, body: dict | str) -> None:
        data = body if isinstance(body, str) else json.dumps(body)
        self._chunk(f"data: {data}\n\n".encode())

    # Routes --------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if (
            self.path.split("?")[0].rstrip("/") == "/v1/responses"
            and "websocket" in self.headers.get("Upgrade", "").lower()
        ):
            self._responses_socket()
            return
        if not self._authorized():
            self._send_json(401, _error_body(401))
        elif self.path.rstrip("/") == "/v1/models":
            model = {"id": self.fake.model, "object": "model", "created": 0, "owned_by": "fake"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        arrived = time.monotonic_ns()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = self.path.rstrip("/")
        if route not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
            return
        self.fake.requests.append({**body, "_path": route, "_arrived_ns": arrived})
        if not self._authorized():
            self._send_json(401, _error_body(401))
            return
        if body.get("model") != self.fake.model:
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._send_json(404, _error_body(404, message))
            return
        if route == "/v1/completions":
            self._text_completion(body)
            return
        response, fault = self.fake._next()
        if fault is not None and fault.kind in HTTP_FAULTS:
            status = HTTP_FAULTS[fault.kind]
            self._send_json(status, _error_body(status), {"Retry-After": "0"} if status == 429 else None)
            return
        if body.get("stream"):
            self._stream(body, response, fault)
        else:
            self._complete(body, response)

    def _complete(self, body: dict, response: FakeResponse) -> None:
        tokens = response.tokens or split_tokens(response.content)
        message: dict = {"role": "assistant", "content": response.content or None}
        if response.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}_{uuid.uuid4().hex[:8]}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
                }
                for i, call in enumerate(response.tool_calls)
            ]
        if self.fake.ttft:
            time.sleep(self.fake.ttft)
        finish = "tool_calls" if response.tool_calls else "stop"
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.fake.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(body, len(tokens)),
            },
        )

    # Waiting, and noticing a client that went away ---------------------------------------------------
    def _client_gone(self) -> bool:
        return _closed_by_peer(self.connection)

    def _wait(self, seconds: float) -> None:
        """Sleep, but raise ClientClosed as soon as the client closes the connection."""
        deadline = time.perf_counter() + seconds
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            readable, _, _ = select.select([self.connection], [], [], remaining)
            if readable:
                if self._client_gone():
                    raise ClientClosed
                if self._ws is not None:  # a WebSocket frame: a close ends the stream, anything else is ignored
                    if self._ws.receive() is None:
                        raise ClientClosed
                    continue
                time.sleep(remaining)  # data, not a close (a pipelined request): nothing to watch any more
                return

    def _hold(self, gate: threading.Event, timeout: float = 60.0) -> None:
        """Wait until the test sets `gate` (at most `timeout` s), raising ClientClosed if the client goes away."""
        deadline = time.monotonic() + timeout
        while not gate.is_set() and time.monotonic() < deadline:
            self._wait(0.02)

    def _start_stream(self) -> StreamRecord:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        return self.fake._open_stream(self.path.rstrip("/"), self.connection)

    def _tokens(self, record: StreamRecord, response: FakeResponse, fault: _Fault | None, send) -> bool:
        """Pace the tokens at the configured rate, after the TTFT; False when a fault ended the stream."""
        fake = self.fake
        if fake.ttft:
            self._wait(fake.ttft)
        tokens = response.tokens or split_tokens(response.content)
        tps = response.tokens_per_second or fake.tokens_per_second
        start = time.perf_counter()
        for index, token in enumerate(tokens):
            if fault is not None and index >= fault.after_tokens and self._break(fault):
                return False
            if response.hold is not None and index == response.hold_after:
                self._hold(response.hold)
                start = time.perf_counter() - index / tps if tps > 0 else time.perf_counter()
            target = start + index / tps if tps > 0 else start
            delay = target - time.perf_counter()
            if delay > 0:
                self._wait(delay)
            send(token)
            record.tokens_sent += 1
            fake.emitted.append((token, time.monotonic_ns()))
        return not (fault is not None and self._break(fault))

    def _stream(self, body: dict, response: FakeResponse, fault: _Fault | None) -> None:
        fake = self.fake
        record = self._start_stream()
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": fake.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            if not self._tokens(record, response, fault, lambda token: self._event(chunk({"content": token}))):
                return
            for i, call in enumerate(response.tool_calls or []):
                self._stream_tool_call(chunk, i, call)
            self._event(chunk({}, "tool_calls" if response.tool_calls else "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = chunk({})
                usage["choices"] = []
                usage["usage"] = _usage(body, record.tokens_sent)
                self._event(usage)
            self._event("[DONE]")
            self._chunk(b"")
        except (ClientClosed, BrokenPipeError, ConnectionResetError):
            record.closed_by_client = True
            self.close_connection = True
        finally:
            record.finish()

    def _text_completion(self, body: dict) -> None:
        """Legacy text completions; with `suffix` this is fill-in-the-middle."""
        fake = self.fake
        if not fake.fim:
            message = "This is a chat model and not supported in the v1/completions endpoint."
            self._send_json(404, {"error": {"message": message, "type": "invalid_request_error", "code": None}})
            return
        completion_id = f"cmpl-{uuid.uuid4().hex[:12]}"

        def chunk(text: str, finish: str | None = None) -> dict:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            return {
                "id": completion_id,
                "object": "text_completion",
                "created": 0,
                "model": fake.model,
                "choices": [choice],
            }

        if not body.get("stream"):  # e.g. a FIM probe: answered without consuming the script
            self._send_json(200, {**chunk("1", "length"), "usage": _usage(body, 1)})
            return
        response, fault = fake._next(fake._completions)
        if fault is not None and fault.kind in HTTP_FAULTS:
            self._send_json(HTTP_FAULTS[fault.kind], _error_body(HTTP_FAULTS[fault.kind]))
            return
        record = self._start_stream()
        try:
            if not self._tokens(record, response, fault, lambda token: self._event(chunk(token))):
                return
            self._event(chunk("", "stop"))
            self._event("[DONE]")
            self._chunk(b"")
        except (ClientClosed, BrokenPipeError, ConnectionResetError):
            record.closed_by_client = True
            self.close_connection = True
        finally:
            record.finish()

    def _stream_tool_call(self, chunk, index: int, call: dict) -> None:
        call_id = f"call_{index}_{uuid.uuid4().hex[:8]}"
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": call["name"], "arguments": ""}}
        self._event(chunk({"tool_calls": [head]}))
        arguments = json.dumps(call.get("arguments", {}))
        for start in range(0, len(arguments), 16):
            piece = {"index": index, "function": {"arguments": arguments[start : start + 16]}}
            self._event(chunk({"tool_calls": [piece]}))

    def _break(self, fault: _Fault) -> bool:
        """Carry out a mid-stream fault; True when the stream must end here."""
        self.close_connection = True
        if fault.kind == "malformed":
            self._chunk(b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": \n\n')
            self._chunk(b"")
            return True
        if fault.kind == "stall":
            self.fake._stopped.wait(self.fake.stall_seconds)
        # "drop" and the end of a stall: close the socket without finishing the chunked body.
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    # The Responses API's WebSocket mode -------------------------------------------------------------
    def _responses_socket(self) -> None:
        fake = self.fake
        if not fake.responses_ws:
            self._send_json(404, {"error": {"message": "WebSocket mode is not available here", "type": "not_found"}})
            return
        if not self._authorized():
            self._send_json(401, _error_body(401))
            return
        accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest())
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        with fake._lock:
            fake.ws_connections += 1
        ws = self._ws = _WebSocket(self.rfile, self.wfile)
        while True:
            message = ws.receive()
            if message is None:
                return
            try:
                event = json.loads(message)
            except ValueError:
                ws.send(
                    {"type": "error", "status": 400, "error": {"type": "invalid_request_error", "message": "not JSON"}}
                )
                continue
            if event.get("type") != "response.create":
                error = {"type": "invalid_request_error", "message": f"unsupported event {event.get('type')!r}"}
                ws.send({"type": "error", "status": 400, "error": error})
                continue
            fake.requests.append({**event, "_path": "ws:/v1/responses", "_arrived_ns": time.monotonic_ns()})
            if not self._ws_response(ws, event):
                return

    def _ws_response(self, ws: _WebSocket, event: dict) -> bool:
        """Stream one response as documented events; False when the connection ended."""
        fake = self.fake
        if event.get("model") != fake.model:
            error = {
                "type": "invalid_request_error",
                "code": "model_not_found",
                "message": f"no model {event.get('model')}",
            }
            ws.send({"type": "error", "status": 404, "error": error})
            return True
        response, fault = fake._next()
        if fault is not None and fault.kind in HTTP_FAULTS:
            status = HTTP_FAULTS[fault.kind]
            ws.send({"type": "error", "status": status, "error": _error_body(status)["error"]})
            return True
        response_id, item_id = f"resp_{uuid.uuid4().hex[:12]}", f"msg_{uuid.uuid4().hex[:12]}"
        sequence = iter(range(1_000_000))

        def emit(kind: str, **fields) -> None:
            ws.send({"type": kind, "sequence_number": next(sequence), **fields})

        head = {"id": response_id, "object": "response", "model": fake.model, "output": []}
        record = fake._open_stream("ws:/v1/responses")
        text: list[str] = []
        try:
            emit("response.created", response={**head, "status": "in_progress"})
            item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            emit("response.output_item.added", output_index=0, item=item)
            where = {"item_id": item_id, "output_index": 0, "content_index": 0}

            def delta(token: str) -> None:
                text.append(token)
                emit("response.output_text.delta", **where, delta=token)

            if not self._tokens(record, response, fault, delta):
                return False
            emit("response.output_text.done", **where, text="".join(text))
            usage = {"input_tokens": len(split_tokens(json.dumps(event.get("input")))), "output_tokens": len(text)}
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
            done = {**item, "status": "completed", "content": [{"type": "output_text", "text": "".join(text)}]}
            emit("response.completed", response={**head, "status": "completed", "output": [done], "usage": usage})
            return True
        except (ClientClosed, BrokenPipeError, ConnectionResetError):
            record.closed_by_client = True
            return False
        finally:
            record.finish()


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _WebSocket:
    """The server side of RFC 6455 framing, enough for JSON text messages (no extensions negotiated)."""

    def __init__(self, rfile, wfile) -> None:
        self.rfile, self.wfile = rfile, wfile

    def _read(self, count: int) -> bytes:
        data = self.rfile.read(count)
        if len(data) < count:
            raise ConnectionResetError
        return data

    def receive(self) -> str | None:
        """The next text message; None once the client closed."""
        parts: list[bytes] = []
        try:
            while True:
                first, second = self._read(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    length = struct.unpack("!H", self._read(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", self._read(8))[0]
                mask = self._read(4) if second & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(length)))
                if opcode == 0x8:
                    self._frame(0x8, payload[:2])
                    return None
                if opcode == 0x9:
                    self._frame(0xA, payload)
                    continue
                if opcode == 0xA:
                    continue
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()
        except (ConnectionResetError, BrokenPipeError, OSError):
            return None

    def _frame(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        self.wfile.write(head + payload)
        self.wfile.flush()

    def send(self, message: dict) -> None:
        self._frame(0x1, json.dumps(message).encode())


def _usage(body: dict, completion_tokens: int) -> dict:
    prompt = " ".join(str(m.get("content") or "") for m in body.get("messages") or []) + str(body.get("prompt") or "")
    prompt_tokens = len(split_tokens(prompt))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible streaming server")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tps", type=float, default=1000.0, help="tokens per second")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    server = FakeModelServer(args.tps, args.ttft, args.model, args.api_key, host=args.host, port=args.port).start()
    print(f"fake OpenAI server on {server.base_url} (model {server.model}, {args.tps:g} tokens/s)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
