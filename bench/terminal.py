"""Shared-terminal benchmark: keystroke -> echo in a second client, and output throughput to two clients.

    python bench/terminal.py --keys 400 --megabytes 50

One embedded Sparkroom process (`python -m workspace.serve` on a SQLite file of its own), two WebSocket clients
on /ws/terminal/<workspace id> (asyncio + websockets, in this process), one terminal (bash in the bubblewrap
sandbox). Reference, same run: the same sandboxed bash started here by `workspace.terminals.shell.start_shell`,
its PTY read directly (no server, no socket).
- echo: client A types one character (no Enter), timed until client B has the echoed character; the reference
  writes the character into the PTY and reads until the echo. p50 / p99 and the added p99 (server - reference).
- throughput: `yes | head -c <megabytes>M` then a marker, timed from Enter until both clients (each reading as
  fast as it can) have the marker; the bytes counted are what arrived (the PTY turns "\\n" into "\\r\\n"). The
  server's RSS before, at its peak (sampled every 20 ms) and after.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import select
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

MARK = "END-OF-OUTPUT"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
CLEAR_LINE = "\x15"  # Ctrl+U: readline clears the line, so the prompt line never grows long
CLEAR_EVERY = 40


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def fmt(values: list[float]) -> str:
    quantiles = "  ".join(f"p{q} {percentile(values, q):6.2f} ms" for q in (50, 90, 99))
    return f"{quantiles}  max {max(values):6.2f} ms  (n={len(values)})"


class Client:
    """A terminal socket client keeping every terminal's output; waiters are woken on each frame."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url, self.cookie = url, cookie
        self.output: dict[int, bytearray] = {}
        self.received = 0
        self.controls: list[dict] = []
        self.changed = asyncio.Event()

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.url, additional_headers={"Cookie": self.cookie}, max_size=None) as ws:
            self.ws = ws
            async for frame in ws:
                if frame[:1] == b"O":
                    terminal = int.from_bytes(frame[1:5], "big")
                    buffer = self.output.setdefault(terminal, bytearray())
                    buffer += frame[5:]
                    self.received += len(frame) - 5
                    if len(buffer) > 1 << 16:
                        del buffer[: len(buffer) - 4096]  # keep the tail: enough to find the marker
                else:
                    self.controls.append(json.loads(frame[1:]))
                self.changed.set()

    async def until(self, predicate, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))


async def measure_server(url: str, cookie: str, pid: int, keys: int, megabytes: int) -> dict:
    import psutil

    typist, watcher = Client(url, cookie), Client(url, cookie)
    tasks = [asyncio.create_task(typist.run()), asyncio.create_task(watcher.run())]
    await typist.until(lambda: hasattr(typist, "ws") and any(m["type"] == "terminals" for m in typist.controls))
    await watcher.until(lambda: any(m["type"] == "terminals" for m in watcher.controls))
    await typist.send({"type": "open", "cols": 120, "rows": 40})
    await typist.until(lambda: any(m["type"] == "opened" for m in typist.controls), 30)
    terminal = next(m for m in typist.controls if m["type"] == "opened")["terminal"]["id"]
    await watcher.until(lambda: b"$ " in watcher.output.get(terminal, b""), 30)

    echo: list[float] = []
    for index in range(keys):
        if index % CLEAR_EVERY == 0:
            await typist.send({"type": "input", "terminal": terminal, "data": CLEAR_LINE})
            await asyncio.sleep(0.05)
        letter = LETTERS[index % len(LETTERS)].encode()
        before = len(watcher.output[terminal])
        started = time.perf_counter()
        await typist.send({"type": "input", "terminal": terminal, "data": letter.decode()})
        await watcher.until(lambda letter=letter, before=before: letter in watcher.output[terminal][before:], 10)
        echo.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    await typist.send({"type": "input", "terminal": terminal, "data": CLEAR_LINE})
    await asyncio.sleep(0.5)

    process = psutil.Process(pid)
    rss_before = process.memory_info().rss
    peak = [rss_before]
    sampling = True

    def sample() -> None:
        while sampling:
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    counted = (typist.received, watcher.received)
    command = f"yes | head -c {megabytes}M; echo {MARK[:3]}''{MARK[3:]}\r"  # the echoed command holds no marker
    started = time.perf_counter()
    await typist.send({"type": "input", "terminal": terminal, "data": command})
    for client in (typist, watcher):
        await client.until(lambda client=client: MARK.encode() in client.output[terminal][-4096:], 300)
    elapsed = time.perf_counter() - started
    sampling = False
    sampler.join()
    await asyncio.sleep(1.0)
    arrived = (typist.received - counted[0], watcher.received - counted[1])
    for task in tasks:
        task.cancel()
    return {
        "echo": echo,
        "seconds": elapsed,
        "bytes": min(arrived),
        "rss": (rss_before, peak[0], process.memory_info().rss),
    }


def measure_direct(keys: int, megabytes: int) -> dict:
    """The same sandboxed shell, its PTY read here."""
    import django

    django.setup()
    from workspace.terminals.shell import start_shell, stop_shell

    shell = start_shell(120, 40)
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    payload = empty.getvalue()
    shell.control.sendall(json.dumps({"op": "files", "bytes": len(payload)}).encode() + b"\n" + payload)
    os.set_blocking(shell.master, True)

    def read_until(needle: bytes, timeout: float = 60.0, keep: bytes = b"") -> tuple[bytes, int]:
        data, count, deadline = keep, 0, time.monotonic() + timeout
        while needle not in data[-8192:]:
            ready, _, _ = select.select([shell.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"{needle!r} not seen")
            chunk = os.read(shell.master, 65536)
            count += len(chunk)
            data = (data + chunk)[-16384:]
        return data, count

    try:
        read_until(b"$ ")
        echo: list[float] = []
        for index in range(keys):
            if index % CLEAR_EVERY == 0:
                os.write(shell.master, CLEAR_LINE.encode())
                time.sleep(0.05)
                select.select([shell.master], [], [], 0.05)
                while select.select([shell.master], [], [], 0)[0]:
                    os.read(shell.master, 65536)
            letter = LETTERS[index % len(LETTERS)].encode()
            started = time.perf_counter()
            os.write(shell.master, letter)
            read_until(letter, 10)
            echo.append((time.perf_counter() - started) * 1000)
            time.sleep(0.005)
        os.write(shell.master, CLEAR_LINE.encode())
        time.sleep(0.3)
        while select.select([shell.master], [], [], 0)[0]:
            os.read(shell.master, 65536)
        command = f"yes | head -c {megabytes}M; echo {MARK[:3]}''{MARK[3:]}\r".encode()
        started = time.perf_counter()
        os.write(shell.master, command)
        _, count = read_until(MARK.encode(), 300)
        return {"echo": echo, "seconds": time.perf_counter() - started, "bytes": count}
    finally:
        stop_shell(shell)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=400)
    parser.add_argument("--megabytes", type=int, default=50)
    args = parser.parse_args()
    from tests.support.embedded_server import embedded_server

    direct = measure_direct(args.keys, args.megabytes)
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as data_dir:
        with embedded_server(Path(data_dir)) as server:
            url = server.base_url.replace("http://", "ws://") + f"/ws/terminal/{server.workspace_id}"
            served = asyncio.run(measure_server(url, server.cookie, server.pid, args.keys, args.megabytes))

    print(
        f"bench/terminal.py: {args.keys} keystrokes, yes | head -c {args.megabytes}M (bash in the bubblewrap sandbox)"
    )
    print(f"keystroke -> echo  reference (PTY read directly)      {fmt(direct['echo'])}")
    print(f"keystroke -> echo  Sparkroom (typist -> second client) {fmt(served['echo'])}")
    added = percentile(served["echo"], 99) - percentile(direct["echo"], 99)
    added50 = percentile(served["echo"], 50) - percentile(direct["echo"], 50)
    print(f"added by Sparkroom: p50 {added50:.2f} ms, p99 {added:.2f} ms (goal <= 5 ms p99)")
    for label, figures in (("reference (PTY read directly)", direct), ("Sparkroom, each of two clients", served)):
        rate = figures["bytes"] / figures["seconds"] / 1e6
        size, seconds = figures["bytes"] / 1e6, figures["seconds"]
        print(f"throughput  {label:32s} {size:7.1f} MB in {seconds:6.2f} s = {rate:6.1f} MB/s")
    share = (served["bytes"] / served["seconds"]) / (direct["bytes"] / direct["seconds"])
    print(f"throughput to each client: {share:.0%} of the reference (goal >= 50 MB/s)")
    before, peak, after = (value / 2**20 for value in served["rss"])
    print(f"server RSS: before {before:.1f} MiB, peak {peak:.1f} MiB, after {after:.1f} MiB")


if __name__ == "__main__":
    main()
