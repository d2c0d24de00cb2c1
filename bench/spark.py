"""Spark streaming benchmark: fake model at R tokens/s -> Sparkroom -> N y-websocket clients.

    python bench/spark.py                       # 1,000 and 5,000 tokens/s x 1 and 20 clients
    python bench/spark.py --rates 5000 --clients 20 --tokens 10000

Starts its own fake OpenAI-compatible server (a separate process), one Daphne process in production mode
(PostgreSQL + the Redis channel layer; --embedded for SQLite + in-memory layer), and N real WebSocket clients
(pycrdt docs over `websockets`) in this process. Per token it measures the added latency from the moment the
model server wrote the token chunk to the moment the token is in each client's document, counts lost tokens,
and reports CPU of Daphne and of the clients. The reference, in the same run: the same token stream read
directly by a plain openai-SDK client (model -> a Python client, no Sparkroom in between).

It also measures Sparkroom's own share of the time to first token over --ttft short requests: the request sent on
the workspace socket -> the model server reading it, plus the model server writing the first token -> that token in
the client's document (both ends on the same host's monotonic clock), next to the share each request recorded
(`SparkRequest.ttft_share_ms`: handler entry -> request written, first chunk read -> its update handed on).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.collab import free_port, percentile, process, sparkroom_env  # noqa: E402

TOKEN_WIDTH = 7  # "t00042 "
BASE_TEXT = "# spark bench\n"
MODEL = "bench-model"


def token_list(count: int) -> list[str]:
    return [f"t{i:05d} " for i in range(count)]


# The fake model server, in its own process so its timing does not share a GIL with the clients ---------
def serve_fake(port: int) -> None:
    """Child process: run the fake server; stdin commands {"tokens": n, "tps": r} / {"emitted": true} /
    {"arrivals": true} / {"completions": n, "tps": r, "ttft": s} (script n streamed FIM answers) / {"streams": true}."""
    from tests.support.fake_openai import FakeModelServer, FakeResponse

    server = FakeModelServer(model=MODEL, port=port).start()
    print("READY", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "tokens" in command:
            server.emitted.clear()
            server.ttft = command.get("ttft", 0.0)
            server.script(FakeResponse(tokens=token_list(command["tokens"]), tokens_per_second=command["tps"]))
            print("OK", flush=True)
        elif "completions" in command:
            server.emitted.clear()
            server.ttft = command["ttft"]
            answer = FakeResponse(tokens=["x", " +", " 1", "\n", "    y"], tokens_per_second=command["tps"])
            server.script_completion(*[answer] * command["completions"])
            print("OK", flush=True)
        elif "streams" in command:
            streams = [(s.opened, s.ended, s.closed_by_client) for s in server.streams]
            print(json.dumps({"streams": streams, "max_concurrent": server.max_concurrent_streams()}), flush=True)
        elif "emitted" in command:
            print(json.dumps([ns for _, ns in server.emitted]), flush=True)
        elif "arrivals" in command:
            print(json.dumps([r["_arrived_ns"] for r in server.requests if "_arrived_ns" in r]), flush=True)
    server.stop()


class FakeModel:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    @contextmanager
    def running(self):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert self.proc.stdout.readline().strip() == "READY"
            yield self
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)

    def script(self, tokens: int, tps: float, ttft: float = 0.0) -> None:
        self.proc.stdin.write(json.dumps({"tokens": tokens, "tps": tps, "ttft": ttft}) + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "OK"

    def emitted(self) -> list[int]:
        self.proc.stdin.write('{"emitted": true}\n')
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def command(self, **command) -> object:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        return line if line == "OK" else json.loads(line)

    def arrivals(self) -> list[int]:
        self.proc.stdin.write('{"arrivals": true}\n')
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


# Sparkroom side --------------------------------------------------------------------------------------------
def setup_django(db_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "workspace.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def prepare_file(user_id: int | None = None) -> tuple[int, int, int, str, str]:
    """A fresh workspace + file; (workspace id, file id, user id, room token, session cookie)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from workspace.collab.files import create_file_with_text
    from workspace.collab.tokens import issue_token
    from workspace.projects.services import create_workspace

    user, _ = get_user_model().objects.get_or_create(username="spark-bench")
    workspace = create_workspace(user, f"spark bench {time.strftime('%H:%M:%S')} {time.monotonic_ns()}")
    node = create_file_with_text(workspace, "bench.py", BASE_TEXT)
    client = Client()
    client.force_login(user)
    return workspace.id, node.id, user.id, issue_token(user.id, node.id), client.cookies["sessionid"].value


class BenchClient:
    """A y-websocket client that timestamps the moment each token becomes part of its document."""

    def __init__(self, url: str) -> None:
        from pycrdt import Doc, Text

        self.url = url
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.seen_at: list[int] = []  # index -> monotonic ns when token `index` became visible
        self.base = len(BASE_TEXT.encode())
        self.synced = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        from workspace.collab import protocol

        async with connect(self.url, max_size=None, compression=None) as ws:
            await ws.send(protocol.sync_step1(self.doc.get_state()))
            receiver = asyncio.create_task(self._receive(ws))
            await stop.wait()
            receiver.cancel()

    async def _receive(self, ws) -> None:
        from workspace.collab import protocol

        async for frame in ws:
            if not isinstance(frame, bytes):
                continue
            message = protocol.decode(frame)
            if message.kind != protocol.MESSAGE_SYNC:
                continue
            if message.sub_kind == protocol.SYNC_STEP1:
                await ws.send(protocol.sync_step2(self.doc.get_update(message.payload)))
                continue
            self.doc.apply_update(message.payload)
            now = time.monotonic_ns()
            visible = max(0, (len(self.text) - self.base) // TOKEN_WIDTH)
            self.seen_at.extend([now] * (visible - len(self.seen_at)))
            if message.sub_kind == protocol.SYNC_STEP2:
                self.synced.set()


async def run_scenario(http_url: str, tps: float, clients: int, tokens: int, fake: FakeModel) -> dict:
    from channels.db import database_sync_to_async
    from websockets.asyncio.client import connect

    workspace_id, file_id, _, token, cookie = await database_sync_to_async(prepare_file)()
    ws_url = http_url.replace("http://", "ws://")
    bench_clients = [BenchClient(f"{ws_url}/ws/yjs/{file_id}?token={token}") for _ in range(clients)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in bench_clients]
    await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in bench_clients)), 30)
    fake.script(tokens, tps)
    me = psutil.Process()
    daphne_proc = psutil.Process(int(os.environ["BENCH_DAPHNE_PID"]))
    cpu_before = (daphne_proc.cpu_times(), me.cpu_times())
    started = time.monotonic()
    async with connect(
        f"{ws_url}/ws/workspace/{workspace_id}", additional_headers={"Cookie": f"sessionid={cookie}"}
    ) as channel:
        await channel.send(
            json.dumps(
                {"type": "spark.request", "file_id": file_id, "instruction": "bench", "selection": {"start": 10**9}}
            )
        )
        request_id = None
        done = None
        deadline = time.monotonic() + 30 + tokens / tps * 3
        while time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(channel.recv(), deadline - time.monotonic()))
            if message["type"] == "spark.request.ok":
                request_id = message["id"]
            elif message["type"] == "error":
                raise RuntimeError(message["message"])
            elif message["type"] in ("spark.done", "spark.failed") and message["id"] == request_id:
                done = message
                break
        all_seen = time.monotonic() + 10
        # Polling the clients' progress is fine in a bench.
        while time.monotonic() < all_seen and any(len(c.seen_at) < tokens for c in bench_clients):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        wall = time.monotonic() - started
        cpu_after = (daphne_proc.cpu_times(), me.cpu_times())
        await channel.send(json.dumps({"type": "spark.accept", "id": request_id}))
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    emitted = fake.emitted()
    latencies = [(seen - emitted[i]) / 1e6 for c in bench_clients for i, seen in enumerate(c.seen_at[: len(emitted)])]
    expected = set(token_list(tokens))
    lost = sum(len(expected - set(re.findall(r"t\d{5} ", str(c.text)))) for c in bench_clients)
    row = await _record(request_id)

    def cpu(before, after) -> float:
        return 100 * ((after.user + after.system) - (before.user + before.system)) / wall

    if os.environ.get("BENCH_TIMELINE"):
        window = max(1, int(tps / 10))  # tokens per 100 ms of stream
        first = bench_clients[0]
        worst = [
            max((first.seen_at[i] - emitted[i]) / 1e6 for i in range(start, min(start + window, len(first.seen_at))))
            for start in range(0, len(first.seen_at), window)
        ]
        print("worst latency per 100 ms of stream (client 0):", " ".join(f"{w:.0f}" for w in worst), file=sys.stderr)
    return {
        "latencies": latencies,
        "lost": lost,
        "emitted": len(emitted),
        "status": done["status"] if done else "timeout",
        "daphne_cpu": cpu(cpu_before[0], cpu_after[0]),
        "clients_cpu": cpu(cpu_before[1], cpu_after[1]),
        "model_tps": row["tokens_per_second"],
        "overhead_ms": row["overhead_ms"],
        "overhead_max_ms": row["overhead_max_ms"],
    }


async def run_ttft(http_url: str, fake: FakeModel, requests: int, ttft_ms: float) -> dict:
    """Sparkroom's share of the TTFT over short requests on one open file, one at a time (the first one, which opens
    the pooled connection and loads the file's facts, is left out)."""
    from channels.db import database_sync_to_async
    from websockets.asyncio.client import connect

    from workspace.spark.models import SparkRequest

    ws_url = http_url.replace("http://", "ws://")
    workspace_id, file_id, _, token, cookie = await database_sync_to_async(prepare_file)()
    before, after, recorded = [], [], []
    async with connect(
        f"{ws_url}/ws/workspace/{workspace_id}", additional_headers={"Cookie": f"sessionid={cookie}"}
    ) as channel:
        await channel.recv()  # hello
        for index in range(requests + 1):
            client = BenchClient(f"{ws_url}/ws/yjs/{file_id}?token={token}")
            stop = asyncio.Event()
            task = asyncio.create_task(client.run(stop))
            await asyncio.wait_for(client.synced.wait(), 30)
            client.base = len(client.text)  # tokens of this request only
            client.seen_at.clear()
            fake.script(5, 1000, ttft_ms / 1000)
            await asyncio.sleep(0.05)  # let the socket settle: one request at a time, no queueing
            sent = time.monotonic_ns()
            end = 10**9
            await channel.send(
                json.dumps(
                    {"type": "spark.request", "file_id": file_id, "instruction": "b", "selection": {"start": end}}
                )
            )
            request_id = None
            while True:
                message = json.loads(await asyncio.wait_for(channel.recv(), 30))
                if message["type"] == "spark.request.ok":
                    request_id = message["id"]
                elif message["type"] in ("spark.done", "spark.failed") and message.get("id") == request_id:
                    break
            while not client.seen_at:  # noqa: ASYNC110 - polling in a bench
                await asyncio.sleep(0.001)
            await channel.send(json.dumps({"type": "spark.accept", "id": request_id}))
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            arrived, first = fake.arrivals()[-1], fake.emitted()[0]
            if index == 0:
                continue
            before.append((arrived - sent) / 1e6)
            after.append((client.seen_at[0] - first) / 1e6)
            row = await SparkRequest.objects.aget(id=request_id)
            if row.ttft_share_ms is not None:
                recorded.append(row.ttft_share_ms)
    total = [b + a for b, a in zip(before, after, strict=True)]
    return {"before": before, "after": after, "total": total, "recorded": recorded}


async def _record(request_id: int) -> dict:
    from workspace.spark.models import SparkRequest

    row = await SparkRequest.objects.aget(id=request_id)
    return {
        "tokens_per_second": row.tokens_per_second,
        "overhead_ms": row.overhead_ms,
        "overhead_max_ms": row.overhead_max_ms,
    }


async def run_reference(fake: FakeModel, tps: float, tokens: int) -> list[float]:
    """The same stream read directly by a plain client (SDK request, SSE lines parsed as Sparkroom does)."""
    from openai import AsyncOpenAI

    from workspace.spark.sources import sse_chunks

    fake.script(tokens, tps)
    arrivals: list[int] = []
    async with AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0) as client:
        async with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=[], stream=True
        ) as response:
            async for chunk in sse_chunks(response.iter_lines()):
                if chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content"):
                    arrivals.append(time.monotonic_ns())
    emitted = fake.emitted()
    return [(a - e) / 1e6 for a, e in zip(arrivals, emitted, strict=False)]


@contextmanager
def daphne(env: dict[str, str]):
    port = free_port()
    cmd = [sys.executable, "-m", "workspace.serve", "-v", "0", "-b", "127.0.0.1", "-p", str(port)]
    with process(cmd, env, port) as proc:
        os.environ["BENCH_DAPHNE_PID"] = str(proc.pid)
        yield f"http://127.0.0.1:{port}"


def ensure_database(db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    admin = db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 5000])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--seconds", type=float, default=3.0, help="stream length per scenario")
    parser.add_argument("--tokens", type=int, default=0, help="tokens per scenario (default: rate x seconds)")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/sparkroom_bench_spark")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--embedded", action="store_true", help="SQLite + in-memory channel layer")
    parser.add_argument("--flush-ms", type=float, default=None, help="SPARK_FLUSH_INTERVAL_MS for Daphne")
    parser.add_argument(
        "--rooms-layer", default="pubsub", help="layer of the rooms' traffic: pubsub (shipped), list (channels_redis)"
    )
    parser.add_argument(
        "--conn-max-age", type=int, default=None, help="DB_CONN_MAX_AGE for Daphne (persistent DB connections)"
    )
    parser.add_argument("--ttft", type=int, default=30, help="short requests for the TTFT share (0: skip)")
    parser.add_argument("--model-ttft-ms", type=float, default=30.0, help="the fake model's TTFT in those requests")
    parser.add_argument("--serve-fake", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return
    if args.embedded:
        db_url, redis_url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3", ""
    else:
        db_url, redis_url = args.db_url, args.redis_url
        ensure_database(db_url)
    setup_django(db_url, redis_url)
    fake = FakeModel()
    env = sparkroom_env(db_url, redis_url, args.rooms_layer)
    env.update({"SPARK_BASE_URL": fake.base_url, "SPARK_MODEL": MODEL, "SPARK_API_KEY": "", "SPARK_TIMEOUT": "30"})
    if args.flush_ms is not None:
        env["SPARK_FLUSH_INTERVAL_MS"] = str(args.flush_ms)
    if args.conn_max_age is not None:
        env["DB_CONN_MAX_AGE"] = str(args.conn_max_age)
    rows = []
    with fake.running(), daphne(env) as http_url:
        for tps in args.rates:
            tokens = args.tokens or int(tps * args.seconds)
            reference = asyncio.run(run_reference(fake, tps, tokens))
            for clients in args.clients:
                gc.collect()
                gc.disable()  # a collector pause in this process would count as Sparkroom latency
                try:
                    result = asyncio.run(run_scenario(http_url, tps, clients, tokens, fake))
                finally:
                    gc.enable()
                rows.append((tps, clients, tokens, result, reference))
        ttft = asyncio.run(run_ttft(http_url, fake, args.ttft, args.model_ttft_ms)) if args.ttft else None
    mode = "embedded (SQLite + in-memory layer)" if args.embedded else "production (PostgreSQL + Redis layer)"
    flush = args.flush_ms if args.flush_ms is not None else "default"
    shared = f", rooms on the {args.rooms_layer} layer" if redis_url else ""
    if args.conn_max_age is not None:
        shared += f", DB_CONN_MAX_AGE={args.conn_max_age}"
    print(f"\nSpark streaming benchmark — {mode}{shared}, 1 Daphne, flush interval {flush} ms, {os.cpu_count()} CPUs")
    header = (
        f"{'tok/s':>6} {'clients':>7} {'tokens':>6} | {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} | "
        f"{'ref p50':>7} {'ref p99':>7} | {'added p50':>9} {'added p99':>9} | {'lost':>5} {'model tok/s':>11} | "
        f"{'ovh mean':>8} {'ovh max':>8} | {'daphne CPU':>10} {'clients CPU':>11}"
    )
    print(header)
    print("-" * len(header))
    for tps, clients, tokens, r, ref in rows:
        lat = r["latencies"]
        p50, p99, p50r, p99r = percentile(lat, 50), percentile(lat, 99), percentile(ref, 50), percentile(ref, 99)
        print(
            f"{tps:>6.0f} {clients:>7} {tokens:>6} | {p50:>7.2f} {p99:>7.2f} {max(lat, default=float('nan')):>7.2f} | "
            f"{p50r:>7.2f} {p99r:>7.2f} | {p50 - p50r:>9.2f} {p99 - p99r:>9.2f} | {r['lost']:>5} "
            f"{(r['model_tps'] or 0):>11.0f} | {(r['overhead_ms'] or 0):>8.2f} {(r['overhead_max_ms'] or 0):>8.2f} | "
            f"{r['daphne_cpu']:>9.0f}% {r['clients_cpu']:>10.0f}%"
        )
    if ttft:

        def cell(values: list[float]) -> str:
            return f"{percentile(values, 50):>7.2f} {percentile(values, 99):>7.2f}"

        print(
            f"\nSparkroom's share of the TTFT over {len(ttft['total'])} requests, model TTFT {args.model_ttft_ms:g} ms"
            " (ms, p50 p99):"
        )
        print(f"  request sent on the socket -> read by the model server     {cell(ttft['before'])}")
        print(f"  first token written by the model -> in the client's doc    {cell(ttft['after'])}")
        print(f"  total                                                       {cell(ttft['total'])}")
        if ttft["recorded"]:
            print(f"  recorded on the requests (handler -> written, read -> handed on) {cell(ttft['recorded'])}")
    print(
        "\nlatency = model server wrote the token chunk -> token in the client's pycrdt doc (same host, monotonic"
        " clock);\nref = the same stream read directly by a plain client; added = Sparkroom - ref;\novh ="
        " Sparkroom overhead recorded on the request (token parsed by the SDK -> its update handed to the layer)."
    )


if __name__ == "__main__":
    main()
