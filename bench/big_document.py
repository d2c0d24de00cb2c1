"""Large documents: does opening a 2 MB document stall everyone else's typing? Sparkroom beside the reference.

    python bench/big_document.py --docs 10 --clients 10 --rate 1 --duration 15 --rounds 2

For each server in one run (Sparkroom in production mode: one Daphne on PostgreSQL + Redis; the reference
y-websocket server, in memory), under the same typing load (bench/collab_loadgen.py: docs x clients):
1. steady: the typing alone;
2. big opens: the same typing while one more client opens a 2 MB document (an empty state vector, so the server
   sends the whole document), waits for it all, closes, and opens it again, as fast as the server serves it.
A holder client keeps the big document open all along on both servers (the reference server drops a document when
its last client leaves and would otherwise have nothing to serve); the Sparkroom document is stored in the
database, the reference one is pushed by the holder.

Prints edit p50/p99 of both phases, the p99 ratio big-opens / steady (goal: within 1.5x) and the big document's
opens per second (goal: at least the reference's). --rounds N repeats, alternating the servers' order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.collab import (  # noqa: E402
    client_urls,
    daphne,
    drop_queued_tasks,
    ensure_database,
    percentile,
    prepare_documents,
    reference_server,
    report,
    run_load,
    sparkroom_env,
)

BIG_BYTES = 2_000_000
SYNC, STEP1, STEP2 = 0, 0, 1


def big_text() -> str:
    line = "value_{:07d} = compute('{}')\n"
    lines, size, index = [], 0, 0
    while size < BIG_BYTES:
        text = line.format(index, "x" * 24)
        lines.append(text)
        size += len(text)
        index += 1
    return "".join(lines)[:BIG_BYTES]


def prepare_big_document() -> tuple[int, str]:
    """The 2 MB file in the bench database (Django is already set up by prepare_documents)."""
    from django.contrib.auth import get_user_model

    from workspace.collab.files import create_file_with_text
    from workspace.collab.tokens import issue_token
    from workspace.projects.services import create_workspace

    user, _ = get_user_model().objects.get_or_create(username="bench")
    node = create_file_with_text(create_workspace(user, f"big document {time.time_ns()}"), "big.txt", big_text())
    return node.id, issue_token(user.id, node.id)


async def open_loop(url: str, seconds: float, push: bool) -> dict:
    """Hold the document open on one connection; open it again and again on another for `seconds`."""
    from pycrdt import Doc, Text
    from websockets.asyncio.client import connect

    from workspace.collab.protocol import read_var_uint, write_var_uint

    def frame(kind: int, payload: bytes) -> bytes:
        return bytes([SYNC, kind]) + write_var_uint(len(payload)) + payload

    async def drain(ws) -> None:
        async for _ in ws:
            pass

    async with connect(url, max_size=None, compression=None, ping_interval=None, open_timeout=60) as holder:
        if push:
            doc = Doc()
            doc["content"] = text = Text()
            text += big_text()
            await holder.send(frame(STEP2, doc.get_update()))
        await holder.send(frame(STEP1, b"\x00"))
        draining = asyncio.create_task(drain(holder))
        await asyncio.sleep(1.0)
        durations = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with connect(url, max_size=None, compression=None, ping_interval=None, open_timeout=60) as ws:
                await ws.send(frame(STEP1, b"\x00"))
                async for message in ws:
                    if isinstance(message, bytes) and message[:2] == bytes([SYNC, STEP2]):
                        length, _ = read_var_uint(message, 2)
                        if length > BIG_BYTES // 2:
                            break
            durations.append((time.perf_counter() - started) * 1000)
        draining.cancel()
    p50, p99 = percentile(durations, 50), percentile(durations, 99)
    return {"opens": len(durations), "seconds": seconds, "p50": p50, "p99": p99}


def run_phase(name: str, urls, server, args, big_url: str | None, push: bool) -> dict:
    opener: dict = {}

    def start_opener() -> None:
        seconds = args.warmup + args.duration
        command = [sys.executable, __file__, "--open-loop", big_url, "--seconds", str(seconds)]
        opener["proc"] = subprocess.Popen(
            command + (["--push"] if push else []),
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        time.sleep(1.0)  # the holder is in (and, for the reference, has pushed the document) before typing starts

    figures = run_load(urls, [server], args, ("redis-server", "postgres"), on_ready=start_opener if big_url else None)
    report(name, figures)
    if big_url:
        proc = opener["proc"]
        out, _ = proc.communicate(timeout=args.warmup + args.duration + 120)
        figures["big"] = json.loads(out.strip().splitlines()[-1])
        big = figures["big"]
        print(
            f"{'':<22} big document opened {big['opens']} times: {big['opens'] / big['seconds']:.2f}/s, "
            f"open p50 {big['p50']:.0f} ms  p99 {big['p99']:.0f} ms",
            flush=True,
        )
    return figures


def sparkroom_side(args) -> dict:
    ensure_database(args.db_url)
    files = prepare_documents(args.db_url, args.docs)
    big_id, big_token = prepare_big_document()
    with daphne(sparkroom_env(args.db_url, args.redis_url)) as (proc, base):
        urls = client_urls([base], files, args.clients, with_token=True)
        steady = run_phase("sparkroom steady", urls, proc, args, None, False)
        big = run_phase("sparkroom big opens", urls, proc, args, f"{base}/{big_id}?token={big_token}", False)
    drop_queued_tasks(args.redis_url)
    return {"steady": steady, "big": big}


def reference_side(args) -> dict:
    with reference_server() as (proc, base):
        urls = client_urls([base], [(100_000 + i, "") for i in range(args.docs)], args.clients, with_token=False)
        steady = run_phase("reference steady", urls, proc, args, None, False)
        big = run_phase("reference big opens", urls, proc, args, f"{base}/big-{time.time_ns()}", True)
    return {"steady": steady, "big": big}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--drain", type=float, default=3.0)
    parser.add_argument("--loadgen-procs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/sparkroom_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--open-loop", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--push", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.open_loop:
        print(json.dumps(asyncio.run(open_loop(args.open_loop, args.seconds, args.push))), flush=True)
        return
    results: dict[str, list[dict]] = {"sparkroom": [], "reference": []}
    for round_index in range(args.rounds):
        sides = [("sparkroom", sparkroom_side), ("reference", reference_side)]
        for name, side in sides if round_index % 2 == 0 else sides[::-1]:
            results[name].append(side(args))
    print("\nsummary (per round)")
    for name, rounds in results.items():
        for figures in rounds:
            steady, big = figures["steady"], figures["big"]
            opens = big["big"]["opens"] / big["big"]["seconds"]
            print(
                f"{name:<10} steady p99 {steady['p99']:6.1f} ms  with big opens p99 {big['p99']:6.1f} ms "
                f"(x{big['p99'] / steady['p99']:.2f}, goal <= 1.5)  big opens {opens:.2f}/s"
            )
    for index in range(args.rounds):
        ours, theirs = results["sparkroom"][index]["big"]["big"], results["reference"][index]["big"]["big"]
        ratio = ours["opens"] / max(theirs["opens"], 1)
        print(f"round {index + 1}: big-document opens/s, Sparkroom / reference = {ratio:.2f} (goal >= 1)")


if __name__ == "__main__":
    main()
