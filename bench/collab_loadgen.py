"""Load generator process for bench/collab.py: y-websocket clients typing into shared documents.

Reads a JSON job on stdin's first line ({"docs": [[url, ...], ...], "rate", "warmup", "duration"}), connects
every client, prints READY, waits for a GO line, types, then prints one JSON result line (latencies, and how
many edits reached all their receivers inside the measured window: the delivered throughput).

Each client owns a pycrdt doc and types one character per keystroke. An edit is identified by the (client id,
clock) of the first struct in the update header, which both servers keep when they fan out; its latency is the
time from sending it until the last other client of the document received it. Receivers do not integrate
remote updates (the servers do); that keeps the generator cheap enough to share two cores with the servers.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path

import psutil
from pycrdt import Doc, Text
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from workspace.collab.protocol import read_var_uint  # noqa: E402
from workspace.collab.protocol import write_var_uint as var_uint

SYNC, AWARENESS = 0, 1
STEP1, STEP2, UPDATE = 0, 1, 2


def frame(sub_kind: int, payload: bytes) -> bytes:
    return bytes([SYNC, sub_kind]) + var_uint(len(payload)) + payload


def skip_var_bytes(data: bytes, pos: int) -> int:
    length, pos = read_var_uint(data, pos)
    return pos + length


def struct_ranges(update: bytes) -> list[tuple[int, int, int]]:
    """(client, first clock, end clock) of every client's structs in a Yjs v1 update.

    Parses what typing produces (string items, deleted items, GC and skip structs); servers may merge
    several keystrokes, even of several clients, into one update.
    """
    clients, pos = read_var_uint(update, 0)
    ranges = []
    for _ in range(clients):
        structs, pos = read_var_uint(update, pos)
        client, pos = read_var_uint(update, pos)
        clock, pos = read_var_uint(update, pos)
        start = clock
        for _ in range(structs):
            info = update[pos]
            pos += 1
            content = info & 0x1F
            if content in (0, 10):  # GC / skip
                length, pos = read_var_uint(update, pos)
                clock += length
                continue
            for flag in (0x80, 0x40):  # origin / right origin ids
                if info & flag:
                    pos = read_var_uint(update, read_var_uint(update, pos)[1])[1]
            if not info & 0xC0:
                parent_is_key, pos = read_var_uint(update, pos)
                pos = (
                    skip_var_bytes(update, pos)
                    if parent_is_key
                    else read_var_uint(update, read_var_uint(update, pos)[1])[1]
                )
                if info & 0x20:
                    pos = skip_var_bytes(update, pos)
            if content == 4:  # string: Yjs counts UTF-16 units; the typed text is ASCII
                length, pos = read_var_uint(update, pos)
                pos += length
            elif content == 1:  # deleted
                length, pos = read_var_uint(update, pos)
            else:
                raise ValueError(f"unexpected content type {content}")
            clock += length
        ranges.append((client, start, clock))
    return ranges


class Edit:
    __slots__ = ("sent_at", "waiting", "measured")

    def __init__(self, sent_at: float, waiting: int, measured: bool) -> None:
        self.sent_at, self.waiting, self.measured = sent_at, waiting, measured


class LoadGen:
    def __init__(self, job: dict) -> None:
        self.job = job
        self.pending: dict[tuple[int, int], Edit] = {}
        self.latencies: list[float] = []
        self.sent = 0
        self.measure_from = float("inf")
        self.stop_at = float("inf")
        self.errors: list[str] = []
        self.completed_in_window = 0  # edits whose last delivery fell inside the measured window (throughput)

    async def client(self, url: str, peers: int, ready: asyncio.Event, go: asyncio.Event) -> None:
        doc = Doc()
        text = doc.get("content", type=Text)
        outgoing: list[bytes] = []
        doc.observe(lambda event: outgoing.append(event.update))
        own_id = doc.client_id
        async with connect(url, max_size=None, compression=None, open_timeout=60, ping_interval=None) as ws:
            await ws.send(frame(STEP1, b"\x00"))
            synced = asyncio.Event()
            reader = asyncio.create_task(self.read(ws, doc, own_id, synced))
            await asyncio.wait_for(synced.wait(), 60)
            ready.set()
            await go.wait()
            interval = 1.0 / self.job["rate"]
            own_clock = 0  # this client's items: one clock tick per typed character
            next_key = time.monotonic() + random.uniform(0, interval)
            while next_key < self.stop_at:
                await asyncio.sleep(max(0.0, next_key - time.monotonic()))
                text.insert(len(text), "x")
                update = outgoing.pop()
                now = time.monotonic()
                self.pending[(own_id, own_clock)] = Edit(now, peers, now >= self.measure_from)
                own_clock += 1
                self.sent += 1
                await ws.send(frame(UPDATE, update))
                next_key += interval
            # Stay connected until every client of the doc has stopped typing, plus the drain time.
            await asyncio.sleep(max(0.0, self.stop_at - time.monotonic()) + self.job["drain"])
            reader.cancel()

    async def read(self, ws, doc: Doc, own_id: int, synced: asyncio.Event) -> None:
        async for message in ws:
            if message[0] != SYNC:
                continue
            sub_kind = message[1]
            _length, pos = read_var_uint(message, 2)
            payload = message[pos:]
            if sub_kind == UPDATE:
                for client, start, end in struct_ranges(payload):
                    if client != own_id:
                        self.received(client, start, end)
            elif sub_kind == STEP1:
                await ws.send(frame(STEP2, doc.get_update(payload)))
            else:
                doc.apply_update(payload)
                synced.set()

    def received(self, client: int, start: int, end: int) -> None:
        now = time.monotonic()
        for clock in range(start, end):
            edit = self.pending.get((client, clock))
            if edit is None:
                continue
            edit.waiting -= 1
            if edit.waiting == 0:
                del self.pending[(client, clock)]
                if self.measure_from <= now < self.stop_at:
                    self.completed_in_window += 1
                if edit.measured:
                    self.latencies.append((now - edit.sent_at) * 1000)

    async def run(self) -> dict:
        ready_events, go = [], asyncio.Event()
        tasks = []
        semaphore = asyncio.Semaphore(50)  # bounded connection storm

        async def start(url: str, peers: int) -> None:
            ready = asyncio.Event()
            ready_events.append(ready)
            async with semaphore:
                task = asyncio.create_task(self.client(url, peers, ready, go))
                tasks.append(task)
                await asyncio.wait([task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    task.result()

        await asyncio.gather(*(start(url, len(urls) - 1) for urls in self.job["docs"] for url in urls))
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        me = psutil.Process()
        cpu_before = me.cpu_times()
        now = time.monotonic()
        self.measure_from = now + self.job["warmup"]
        self.stop_at = self.measure_from + self.job["duration"]
        go.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        self.errors = [repr(r) for r in results if isinstance(r, BaseException)]
        cpu_after = me.cpu_times()
        busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        measured_sent = sum(1 for e in self.pending.values() if e.measured) + len(self.latencies)
        return {
            "latencies_ms": self.latencies,
            "sent": self.sent,
            "measured_sent": measured_sent,
            "incomplete": sum(1 for e in self.pending.values() if e.measured),
            "completed_in_window": self.completed_in_window,
            "cpu_seconds": busy,
            "wall_seconds": time.monotonic() - now,
            "errors": self.errors[:5],
        }


def main() -> None:
    job = json.loads(sys.stdin.readline())
    result = asyncio.run(LoadGen(job).run())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
