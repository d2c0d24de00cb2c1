"""Completions-as-you-type benchmark: keystroke -> ghost text through Sparkroom, against a fake model at a set TTFT.

    python bench/completions.py                          # TTFT 50 ms, 100 keystrokes, then a 3 s burst at 20 keys/s
    python bench/completions.py --ttft-ms 20 --keystrokes 200 --conn-max-age 60

Starts the fake OpenAI-compatible server (fill-in-the-middle on, in its own process), one Daphne process
(production mode: PostgreSQL + Redis; --embedded for SQLite + in-memory) and a workspace-channel client playing the
editor. Per keystroke it sends `spark.complete` (as the browser does after its debounce) and waits for the first
`spark.completion` characters. Sparkroom's share = (keystroke -> first characters at the client) - (the model
server reading the request -> writing its first token), both ends on this host's monotonic clock: what remains is
the socket hops, the handler, the request to the model and the way back.

The burst types 20 keystrokes per second with the browser's policy (a keystroke cancels the request in flight; the
first one after a pause asks at once, faster ones wait for SPARK_COMPLETION_DEBOUNCE_MS of quiet), and, to load the
server's own guarantee, again with a request on every keystroke; the fake server reports how many of its streams
were ever open at once (must be 1: at most one request per user in flight) and how many the client closed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.collab import percentile, sparkroom_env  # noqa: E402
from bench.spark import MODEL, FakeModel, daphne, ensure_database, prepare_file, setup_django  # noqa: E402

PREFIX = "def total(values):\n    return sum(v for v in values if v"
SUFFIX = ")\n\nprint(total([1, 2, 3]))\n"


class Editor:
    """The editor's side of the workspace channel: asks, cancels, and times the first ghost characters."""

    def __init__(self, socket, file_id: int) -> None:
        self.socket = socket
        self.file_id = file_id
        self.first: dict[str, int] = {}
        self.keys: dict[str, int] = {}
        self.replies: dict[str, asyncio.Future] = {}
        self.counter = 0

    async def listen(self) -> None:
        async for raw in self.socket:
            now = time.monotonic_ns()
            message = json.loads(raw)
            if message["type"] == "spark.completion" and message.get("text") and message["key"] not in self.first:
                self.first[message["key"]] = now
            elif message["type"] == "spark.complete.ok":
                future = self.replies.pop(message.get("request_id"), None)
                if future is not None:
                    future.set_result(message["key"])
            elif message["type"] == "error":
                future = self.replies.pop(message.get("request_id"), None)
                if future is not None:
                    future.set_exception(RuntimeError(message["message"]))

    async def ask(self, prefix: str) -> str:
        """Send one request; returns its key (the reply comes back before its text)."""
        self.counter += 1
        request_id = f"c{self.counter}"
        future = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        sent = time.monotonic_ns()
        message = {"type": "spark.complete", "request_id": request_id, "file_id": self.file_id}
        message |= {"path": "bench.py", "language": "python", "prefix": prefix, "suffix": SUFFIX}
        await self.socket.send(json.dumps(message))
        key = await future
        self.keys[key] = sent
        return key

    async def cancel(self) -> None:
        await self.socket.send(json.dumps({"type": "spark.complete.cancel"}))

    async def first_text(self, key: str, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while key not in self.first:  # noqa: ASYNC110 - polling in a bench
            if time.monotonic() > deadline:
                raise TimeoutError(f"no text for {key}")
            await asyncio.sleep(0.0005)
        return self.first[key]


async def connect_editor(http_url: str):
    from channels.db import database_sync_to_async
    from websockets.asyncio.client import connect

    workspace_id, file_id, _, _, cookie = await database_sync_to_async(prepare_file)()
    url = http_url.replace("http://", "ws://") + f"/ws/workspace/{workspace_id}"
    socket = await connect(url, additional_headers={"Cookie": f"sessionid={cookie}"}, max_size=None)
    await socket.recv()  # hello
    editor = Editor(socket, file_id)
    listener = asyncio.create_task(editor.listen())
    return editor, socket, listener


async def run_latency(http_url: str, fake: FakeModel, keystrokes: int, ttft_ms: float) -> dict:
    editor, socket, listener = await connect_editor(http_url)
    shares, totals, models = [], [], []
    try:
        for index in range(keystrokes + 1):
            fake.command(completions=1, tps=1000, ttft=ttft_ms / 1000)
            key = await editor.ask(PREFIX + "x" * (index % 7) + f" > {index}")  # a new prefix: no cache hit
            shown = await editor.first_text(key)
            await asyncio.sleep(0.03)  # the rest of the answer streams; the next keystroke comes after a pause
            arrived = fake.arrivals()[-1]
            first_token = fake.command(emitted=True)[0]
            if index == 0:
                continue  # the first request probes fill-in-the-middle and opens the pooled connection
            total = (shown - editor.keys[key]) / 1e6
            model = (first_token - arrived) / 1e6
            totals.append(total)
            models.append(model)
            shares.append(total - model)
    finally:
        listener.cancel()
        await socket.close()
    return {"share": shares, "total": totals, "model": models}


async def run_burst(http_url: str, fake: FakeModel, seconds: float, rate: float, debounce_ms: float, debounce: bool):
    """Type at `rate` keys/s; returns the model server's view of the streams of this burst."""
    editor, socket, listener = await connect_editor(http_url)
    before = len(fake.command(streams=True)["streams"])
    fake.command(completions=int(seconds * rate) + 10, tps=1000, ttft=0.05)
    asked = 0
    pending: asyncio.Task | None = None
    in_flight = False
    last_key = -1e9

    async def ask(prefix: str) -> None:
        nonlocal asked, in_flight
        asked += 1
        in_flight = True
        key = await editor.ask(prefix)
        with_text = asyncio.create_task(editor.first_text(key, timeout=5))
        await asyncio.wait({with_text}, timeout=5)
        with_text.cancel()
        in_flight = False

    async def after_quiet(prefix: str) -> None:
        await asyncio.sleep(debounce_ms / 1000)
        await ask(prefix)

    try:
        start = time.monotonic()
        for index in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            now = time.monotonic()
            prefix = PREFIX + f" > {index}"
            if not debounce:
                asyncio.create_task(ask(prefix))  # noqa: RUF006 - every keystroke asks; the server cancels the last
                continue
            if in_flight:
                await editor.cancel()
            if pending is not None:
                pending.cancel()
            if (now - last_key) * 1000 >= debounce_ms:
                pending = asyncio.create_task(ask(prefix))
            else:
                pending = asyncio.create_task(after_quiet(prefix))
            last_key = now
        await asyncio.sleep(1.0)
    finally:
        listener.cancel()
        await socket.close()
    view = fake.command(streams=True)
    streams = view["streams"][before:]
    if os.environ.get("BENCH_STREAMS"):
        for opened, ended, closed in streams:
            print(f"{(opened - streams[0][0]) * 1000:9.3f} {((ended or opened) - streams[0][0]) * 1000:9.3f} {closed}")
    return {
        "keystrokes": int(seconds * rate),
        "requests": len(streams),
        "closed_early": sum(1 for _, _, closed in streams if closed),
        "max_concurrent": _max_concurrent(streams),
    }


def _max_concurrent(streams: list) -> int:
    edges = sorted([(o, 1) for o, _, _ in streams] + [(e, -1) for _, e, _ in streams if e is not None])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="the fake model's time to first token")
    parser.add_argument("--keystrokes", type=int, default=100)
    parser.add_argument("--burst-seconds", type=float, default=3.0)
    parser.add_argument("--burst-rate", type=float, default=20.0, help="keystrokes per second")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/sparkroom_bench_spark")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--embedded", action="store_true", help="SQLite + in-memory channel layer")
    parser.add_argument("--conn-max-age", type=int, default=None, help="DB_CONN_MAX_AGE for Daphne")
    args = parser.parse_args()
    if args.embedded:
        db_url, redis_url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3", ""
    else:
        db_url, redis_url = args.db_url, args.redis_url
        ensure_database(db_url)
    setup_django(db_url, redis_url)
    from django.conf import settings

    fake = FakeModel()
    env = sparkroom_env(db_url, redis_url)
    env.update({"SPARK_BASE_URL": fake.base_url, "SPARK_MODEL": MODEL, "SPARK_API_KEY": "", "SPARK_FIM": "auto"})
    if args.conn_max_age is not None:
        env["DB_CONN_MAX_AGE"] = str(args.conn_max_age)
    debounce = settings.SPARK_COMPLETION_DEBOUNCE_MS
    with fake.running(), daphne(env) as http_url:
        latency = asyncio.run(run_latency(http_url, fake, args.keystrokes, args.ttft_ms))
        burst = asyncio.run(run_burst(http_url, fake, args.burst_seconds, args.burst_rate, debounce, True))
        flood = asyncio.run(run_burst(http_url, fake, args.burst_seconds, args.burst_rate, debounce, False))
    mode = "embedded (SQLite + in-memory layer)" if args.embedded else "production (PostgreSQL + Redis)"
    age = f", DB_CONN_MAX_AGE={args.conn_max_age}" if args.conn_max_age is not None else ""
    print(
        f"\nCompletions benchmark — {mode}{age}, 1 Daphne, fake model TTFT {args.ttft_ms:g} ms, {os.cpu_count()} CPUs"
    )
    print(f"keystroke -> first ghost characters over {len(latency['total'])} keystrokes (ms):")
    for name, values in (("total", latency["total"]), ("model", latency["model"]), ("Sparkroom", latency["share"])):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(f"  {name:<10} p50 {p50:7.2f}   p99 {p99:7.2f}   max {max(values):7.2f}")
    for label, result in (("browser policy (cancel + debounce)", burst), ("a request on every keystroke", flood)):
        print(
            f"burst of {result['keystrokes']} keystrokes at {args.burst_rate:g}/s, {label}: {result['requests']} "
            f"requests reached the model, {result['closed_early']} closed by Sparkroom before the end, "
            f"at most {result['max_concurrent']} in flight at once"
        )
    print(
        "\nSparkroom = total - model; model = the model server reading the request -> writing its first token;"
        "\ntotal = the client sending spark.complete -> the first characters of the answer at the client."
    )


if __name__ == "__main__":
    main()
