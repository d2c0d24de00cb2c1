"""Deep-mode job benchmark: enqueue -> worker start latency and result -> browser latency, both modes.

    python bench/jobs.py --jobs 30
    python bench/jobs.py --modes embedded --rounds 3     # the embedded mode only, its two sides alternated

Embedded mode (what `make run` starts): a real `python -m workspace.serve` on a SQLite file of its own, with
the in-memory channel layer, the in-memory broker and the Celery worker thread (2 threads) inside it, and a
WebSocket client on /ws/workspace/<id> creating the jobs (`jobs.create`) as the browser does. Reference, same
run: the same process on kombu's stock memory transport, which polls its queues every second
(bench/bench_settings.py, BENCH_CELERY_TRANSPORT=stock). Figures:
- created -> start: from the job row's `created_at` to `started_at` written by the worker's claim, both
  written by the web process (created_at precedes the commit that sends the task by the creating
  transaction, about a millisecond); jobs sent one at a time and as one burst;
- result -> browser: as below;
- idle: the web process' CPU time and voluntary context switches (its threads' wake-ups) per second over
  --idle-seconds, with no job and no client.

Production mode (PostgreSQL + Redis): a real Daphne process, real `celery worker` processes (prefork,
--concurrency 1 and 4) and a WebSocket client standing in for the browser.
- enqueue -> start: from the commit of the job row (the task is sent on commit) to `started_at` written by
  the worker's claim; measured for jobs sent one at a time (pick-up latency) and as one burst (queueing).
- result -> browser: from `finished_at` (written just before the broadcast) to the moment the WebSocket
  client receives "job.finished".
- reference, same run: a bare broadcast_to_workspace() from this process to the same WebSocket client,
  i.e. the floor set by the Redis channel layer and Daphne.

Each job is a "tests" job whose sandboxed command is `true`, so the figures are the orchestration overhead.

Environment mode (`--modes environment`, PostgreSQL, the runner called in this process as the Celery task does, the
real sandbox): a project whose sparkroom.toml installs a vendored package (--modules generated modules) into .deps
and byte-compiles it, no network. Time from the job's start (`started_at`) to its command phase (the event that
starts the project's test command; the agent phase starts at the same point, right after the environment is
ready): the first run (setup runs, its result cached), cached runs (setup skipped, .deps copied in), and, as the
reference in the same run, the same project without [setup] (straight to the command phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sparkroom_bench_jobs")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
# Own Celery queue and channel prefix, so other processes on the same Redis never take our jobs.
os.environ["SPARKROOM_TEST_RUN_ID"] = f"benchjobs{os.getpid()}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Production mode needs a SECRET_KEY: one per run, inherited by the Daphne and Celery processes started here.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ["JOB_TESTS_COMMAND"] = "true"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    mean = statistics.mean(ms)
    return f"p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   (n={len(ms)}, mean {mean:.1f})"


class Browser:
    """A WebSocket client on the workspace channel, timestamping every message on arrival."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url, self.cookie = url, cookie
        self.arrivals: dict[tuple[str, int], float] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.url, additional_headers={"Cookie": self.cookie}, max_size=None) as ws:
            async for raw in ws:
                now = time.time()
                message = json.loads(raw)
                if message["type"] == "hello":
                    self.ready.set()
                elif message["type"] == "job.finished":
                    self.arrivals[("job", message["job"]["id"])] = now
                elif message["type"] == "bench.ping":
                    self.arrivals[("ping", message["n"])] = now

    async def wait_for(self, key: tuple[str, int], timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while key not in self.arrivals:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {key} within {timeout}s")
            await asyncio.sleep(0.002)
        return self.arrivals[key]


def create_jobs(user, workspace_id: int, count: int) -> list[tuple[int, float]]:
    """Create `count` jobs, one transaction each; (job id, commit time) per job."""
    from django.db import transaction

    from tasks.deep import enqueue
    from workspace.jobs.services import create_job

    created = []
    for _ in range(count):
        committed: list[float] = []
        with transaction.atomic():
            # Registered first, so it runs at commit before create_job's own hooks send the task.
            transaction.on_commit(lambda stamps=committed: stamps.append(time.time()))
            job = create_job(user, workspace_id, "tests", enqueue=enqueue)
        created.append((job.id, committed[0]))
    return created


async def measure(browser: Browser, user, workspace_id: int, jobs: int) -> dict[str, list[float]]:
    from asgiref.sync import sync_to_async

    from workspace.jobs.models import Job

    sequential_start, burst_start, to_browser = [], [], []
    for _ in range(jobs):
        [(job_id, committed)] = await sync_to_async(create_jobs)(user, workspace_id, 1)
        arrived = await browser.wait_for(("job", job_id))
        job = await Job.objects.aget(id=job_id)
        assert job.status == "succeeded", (job.status, job.error)
        sequential_start.append(job.started_at.timestamp() - committed)
        to_browser.append(arrived - job.finished_at.timestamp())
    burst = await sync_to_async(create_jobs)(user, workspace_id, jobs)
    for job_id, committed in burst:
        arrived = await browser.wait_for(("job", job_id), timeout=120)
        job = await Job.objects.aget(id=job_id)
        burst_start.append(job.started_at.timestamp() - committed)
        to_browser.append(arrived - job.finished_at.timestamp())
    return {"sequential": sequential_start, "burst": burst_start, "browser": to_browser}


async def reference(browser: Browser, workspace_id: int, count: int) -> list[float]:
    from asgiref.sync import sync_to_async

    from workspace.broadcast import broadcast_to_workspace

    latencies = []
    for n in range(count):
        sent = time.time()
        await sync_to_async(broadcast_to_workspace)(workspace_id, "bench.ping", {"n": n})
        latencies.append(await browser.wait_for(("ping", n)) - sent)
    return latencies


EMBEDDED_SIDES = {"stock": "embedded, stock memory transport (1 s poll)", "shipped": "embedded, event-driven wake-up"}


def voluntary_switches(pid: int) -> int:
    """Times the threads of process `pid` went to sleep and were woken (Linux), summed over its threads."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def embedded(side: str, jobs: int, idle_seconds: float) -> dict[str, list[float] | float]:
    """One embedded web process on `side`'s transport: start latencies, result -> browser, idle CPU."""
    import psutil

    from tests.support.embedded_server import at, embedded_server

    env = {"JOB_TESTS_COMMAND": "true", "DJANGO_SETTINGS_MODULE": "bench.bench_settings"}
    env["BENCH_CELERY_TRANSPORT"] = side
    figures: dict[str, list[float] | float] = {"sequential": [], "burst": [], "browser": []}

    def record(kind: str, summary: dict, arrived: float) -> None:
        assert summary["status"] == "succeeded", summary
        figures[kind].append((at(summary, "started_at") - at(summary, "created_at")).total_seconds())
        figures["browser"].append(arrived - at(summary, "finished_at").timestamp())

    with (
        tempfile.TemporaryDirectory(prefix="bench-jobs-") as data_dir,
        embedded_server(Path(data_dir), **env) as server,
    ):
        with server.workspace_socket() as client:
            for _ in range(jobs):
                record("sequential", *client.wait_finished(client.create_job()))
            for job_id in [client.create_job() for _ in range(jobs)]:
                record("burst", *client.wait_finished(job_id, timeout=120))
        time.sleep(2)  # the socket's disconnect and the last broadcasts settle
        process = psutil.Process(server.pid)
        before, switches, started = process.cpu_times(), voluntary_switches(server.pid), time.monotonic()
        time.sleep(idle_seconds)
        after, elapsed = process.cpu_times(), time.monotonic() - started
        figures["idle_cpu"] = max(0.0, after.user + after.system - before.user - before.system) / elapsed
        figures["idle_wakeups"] = (voluntary_switches(server.pid) - switches) / elapsed
    return figures


def run_embedded(jobs: int, rounds: int, idle_seconds: float, sides: list[str]) -> None:
    for round_ in range(rounds):
        for side in sides:
            label = EMBEDDED_SIDES[side]
            figures = embedded(side, jobs, idle_seconds)
            prefix = f"[{round_ + 1}] {label:<46}"
            print(f"{prefix} created -> start, one at a time {fmt(figures['sequential'])}")
            print(f"{prefix} created -> start, burst of {jobs:<3}  {fmt(figures['burst'])}")
            print(f"{prefix} result -> browser            {fmt(figures['browser'])}")
            idle = f"{figures['idle_cpu'] * 1000:.2f} ms CPU, {figures['idle_wakeups']:.1f} wake-ups per second"
            print(f"{prefix} idle web process             {idle}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30, help="jobs per scenario")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="worker concurrencies to compare")
    parser.add_argument(
        "--modes", nargs="+", choices=["embedded", "production", "environment"], default=["embedded", "production"]
    )
    parser.add_argument("--modules", type=int, default=150, help="environment mode: modules of the vendored package")
    parser.add_argument("--rounds", type=int, default=1, help="embedded mode: alternations of its two sides")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="embedded mode: idle CPU measured over")
    parser.add_argument("--sides", nargs="+", choices=list(EMBEDDED_SIDES), default=list(EMBEDDED_SIDES))
    args = parser.parse_args()

    if "embedded" in args.modes:
        print(f"bench/jobs.py, embedded mode: {args.jobs} jobs per scenario, sandbox command `true`, 2 worker threads")
        run_embedded(args.jobs, args.rounds, args.idle_seconds, args.sides)
    if "production" in args.modes:
        run_production(args)
    if "environment" in args.modes:
        from bench.jobs_environment import run_environment

        run_environment(args.rounds, args.modules)


def run_production(args: argparse.Namespace) -> None:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from tests.support.live import celery_worker, daphne_server
    from workspace.projects.models import Workspace
    from workspace.projects.services import create_workspace

    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-jobs")
    workspace = Workspace.objects.filter(created_by=user).first() or create_workspace(user, "Bench jobs")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    print(f"bench/jobs.py: {args.jobs} jobs per scenario, sandbox command `true`, workers {args.workers}")
    with daphne_server() as base_url:
        ws_url = base_url.replace("http://", "ws://") + f"/ws/workspace/{workspace.id}"

        async def run_all() -> None:
            browser = Browser(ws_url, cookie)
            listener = asyncio.create_task(browser.run())
            await asyncio.wait_for(browser.ready.wait(), 30)
            ref = await reference(browser, workspace.id, args.jobs)
            print(f"reference  broadcast -> browser           {fmt(ref)}")
            for concurrency in args.workers:
                with celery_worker(concurrency, JOB_TESTS_COMMAND="true"):
                    figures = await measure(browser, user, workspace.id, args.jobs)
                print(f"{concurrency} worker(s) enqueue -> start, one at a time {fmt(figures['sequential'])}")
                print(f"{concurrency} worker(s) enqueue -> start, burst of {args.jobs:<3}  {fmt(figures['burst'])}")
                print(f"{concurrency} worker(s) result -> browser            {fmt(figures['browser'])}")
            listener.cancel()

        asyncio.run(run_all())


if __name__ == "__main__":
    main()
