"""A fake OpenAI-compatible chat-completions server for tests and benchmarks (real HTTP, real SSE).

    with FakeModelServer(tokens_per_second=2000, ttft=0.05) as server:
        server.script(FakeResponse(content="x = 1\n"))
        server.fault("429")            # the next request gets a 429 before any token
        client = AsyncOpenAI(base_url=server.base_url, api_key="k")

Streams use HTTP/1.1 chunked encoding, so a "drop" fault (socket closed mid-body) looks to the client
exactly like a real connection loss. Run standalone: `python -m tests.fake_openai --port 8011 --tps 1000`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
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
    requests: list[dict] = field(default_factory=list)
    emitted: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._responses: deque[FakeResponse] = deque()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # Lifecycle -----------------------------------------------------------------------------------
    def start(self) -> FakeModelServer:
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
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

    def fault(self, kind: str, after_tokens: int = 0, times: int = 1) -> None:
        """Make the next `times` requests fail with `kind` (HTTP faults happen before any token)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, after_tokens, times))

    def reset(self) -> None:
        with self._lock:
            self._responses.clear()
            self._faults.clear()
            self.requests.clear()
            self.emitted.clear()

    def _next(self) -> tuple[FakeResponse, _Fault | None]:
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
            response = self._responses.popleft() if self._responses else FakeResponse(content=DEFAULT_TEXT)
            return response, fault


def _error_body(status: int, message: str | None = None) -> dict:
    text, code, kind = ERROR_TEXT[status]
    return {"error": {"message": message or text, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeModelServer
    protocol_version = "HTTP/1.1"
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
        if not self._authorized():
            self._send_json(401, _error_body(401))
        elif self.path.rstrip("/") == "/v1/models":
            model = {"id": self.fake.model, "object": "model", "created": 0, "owned_by": "fake"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
            return
        self.fake.requests.append(body)
        if not self._authorized():
            self._send_json(401, _error_body(401))
            return
        if body.get("model") != self.fake.model:
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._send_json(404, _error_body(404, message))
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

    def _stream(self, body: dict, response: FakeResponse, fault: _Fault | None) -> None:
        fake = self.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
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
            if fake.ttft:
                time.sleep(fake.ttft)
            tokens = response.tokens or split_tokens(response.content)
            tps = response.tokens_per_second or fake.tokens_per_second
            start = time.perf_counter()
            for index, token in enumerate(tokens):
                if fault is not None and index >= fault.after_tokens and self._break(fault):
                    return
                target = start + index / tps if tps > 0 else start
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                self._event(chunk({"content": token}))
                fake.emitted.append((token, time.monotonic_ns()))
            if fault is not None and self._break(fault):
                return
            for i, call in enumerate(response.tool_calls or []):
                self._stream_tool_call(chunk, i, call)
            self._event(chunk({}, "tool_calls" if response.tool_calls else "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = chunk({})
                usage["choices"] = []
                usage["usage"] = _usage(body, len(tokens))
                self._event(usage)
            self._event("[DONE]")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

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


def _usage(body: dict, completion_tokens: int) -> dict:
    prompt = " ".join(str(m.get("content") or "") for m in body.get("messages") or [])
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
