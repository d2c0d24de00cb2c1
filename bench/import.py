"""Import / export benchmark: a generated repository of 5,000 files / 50 MB imported as an archive and as a clone.

    python bench/import.py                      # 3 rounds, production mode (creates sparkroom_bench_import)
    python bench/import.py --rounds 5 --files 5000 --megabytes 50

Production mode only: a real Daphne process (`python -m workspace.serve`) and a real `celery worker` (prefork,
concurrency 1) on PostgreSQL + Redis. The repository (seeded, so every run imports the same bytes) has files of
log-normal sizes in folders of ~50, 10% of them binary (random bytes), the rest code-like text; it is committed
once and served as a bare repository under REPOS_LOCAL_ROOTS. Each round, alternating:

- reference: `git clone --depth 1 file://…` of the same repository into a fresh folder (fetch + writing the files);
- archive import: the repository's zip (`git archive`) uploaded through `POST /api/workspaces/{id}/import` into a new
  empty workspace; time from the start of the upload to `finished_at` (upload time shown apart);
- clone import: `POST …/import {"git_url": "file://…"}` (shallow) into a new empty workspace; time from the request
  to `finished_at`;
- export: `GET /api/workspaces/{id}/archive` of the archive-imported workspace, read to the end, against
  `zip -r -q` (level 6) of the reference clone's files.

Peak RSS of the Daphne process and of the worker (its pool child, where imports run) is sampled every 20 ms.
Meanwhile a typist inserts a marked string into a live document every 25 ms and an observer on a second socket
timestamps its arrival: the keystroke round trip (typist → Daphne → store → fan-out → observer) is reported for idle
windows and for the windows of each import kind. The machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.gettempdir()) / "sparkroom-bench-import"
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sparkroom_bench_import")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ["SPARKROOM_TEST_RUN_ID"] = f"benchimport{os.getpid()}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ["REPOS_DATA_DIR"] = str(WORK / "data")
os.environ["REPOS_LOCAL_ROOTS"] = str(WORK / "served")

WORDS = (
    "def class return import from self value items index result data None True False for in if else elif while "
    "with as try except raise yield lambda print len range list dict set str int float path name text node file"
).split()
GIT_ENV = {
    "PATH": os.environ.get("PATH", os.defpath),
    "HOME": str(WORK),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def text_file(rng: random.Random, size: int) -> bytes:
    lines, total = [], 0
    while total < size:
        indent = "    " * rng.randint(0, 3)
        line = indent + " ".join(rng.choices(WORDS, k=rng.randint(3, 12))) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def generate(files: int, megabytes: int, seed: int) -> tuple[Path, Path, Path]:
    """(bare repository, its zip, a working copy) for these parameters, generated once and kept in WORK."""
    base = WORK / f"repo-{files}-{megabytes}-{seed}"
    bare, archive, tree = base / "served" / "origin.git", base / "origin.zip", base / "tree"
    if bare.exists() and archive.exists():
        return bare, archive, tree
    shutil.rmtree(base, ignore_errors=True)
    rng = random.Random(seed)
    sizes = [rng.lognormvariate(8.3, 1.2) for _ in range(files)]
    scale = megabytes * 1024 * 1024 / sum(sizes)
    tree.mkdir(parents=True)
    for number, raw in enumerate(sizes):
        size = max(1, min(int(raw * scale), 4 * 1024 * 1024))
        folder = tree / f"pkg{number // 250:02}" / f"mod{number // 50 % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.10:
            (folder / f"asset{number:05}.bin").write_bytes(rng.randbytes(size))
        else:
            (folder / f"file{number:05}.py").write_bytes(text_file(rng, size))
    git("init", "-q", "-b", "main", cwd=tree)
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", "generated", cwd=tree)
    bare.parent.mkdir(parents=True)
    git("clone", "-q", "--bare", str(tree), str(bare))
    git("archive", "--format=zip", "-o", str(archive), "HEAD", cwd=tree)
    shutil.rmtree(tree / ".git")
    return bare, archive, tree


class RssSampler:
    """Peak resident memory of a set of processes (and their children), sampled every 20 ms."""

    def __init__(self, pids: dict[str, int]) -> None:
        import psutil

        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peaks = dict.fromkeys(pids, 0)
        self.base = dict.fromkeys(pids, 0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def reset(self) -> None:
        """Start a scenario: peaks from now on, and the resident memory it starts from (`base`)."""
        self.base = {name: self._rss(process) for name, process in self.processes.items()}
        self.peaks = dict(self.base)

    @staticmethod
    def _rss(process) -> int:
        return max(member.memory_info().rss for member in [process, *process.children(recursive=True)])

    def figures(self) -> dict[str, tuple[int, int]]:
        """(peak, growth over the scenario's start) per process."""
        return {name: (self.peaks[name], self.peaks[name] - self.base[name]) for name in self.peaks}

    def run(self) -> None:
        import psutil

        while not self.stop.wait(0.02):
            for name, process in self.processes.items():
                try:
                    rss = self._rss(process)
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks[name], rss)


class KeystrokeProbe:
    """A typist and an observer on one live document; (sent at, round trip) per keystroke."""

    def __init__(self, base_url: str, file_id: int, user_id: int) -> None:
        from workspace.collab.tokens import issue_token

        ws = base_url.replace("http://", "ws://")
        self.urls = [f"{ws}/ws/yjs/{file_id}?token={issue_token(user_id, file_id)}" for _ in range(2)]
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)

    async def run(self) -> None:
        from pycrdt import Doc, Text
        from websockets.asyncio.client import connect

        from workspace.collab import protocol

        sent: dict[bytes, float] = {}
        async with connect(self.urls[0], max_size=None) as typist, connect(self.urls[1], max_size=None) as observer:

            async def observe() -> None:
                async for frame in observer:
                    now = time.monotonic()
                    for marker in re.findall(rb"k\d{7};", frame):
                        at = sent.pop(marker, None)
                        if at is not None:
                            self.samples.append((at, now - at))

            async def drain() -> None:
                async for _ in typist:
                    pass

            tasks = [asyncio.create_task(observe()), asyncio.create_task(drain())]
            await asyncio.sleep(1.0)
            self.ready.set()
            doc = Doc()
            text = doc.get("content", type=Text)
            number = 0
            while not self.stop.is_set():
                number += 1
                marker = f"k{number:07};"
                before = doc.get_state()
                text.insert(0, marker)
                sent[marker.encode()] = time.monotonic()
                await typist.send(protocol.sync_update(doc.get_update(before)))
                await asyncio.sleep(0.025)
            for task in tasks:
                task.cancel()

    def between(self, start: float, end: float) -> list[float]:
        return [latency for at, latency in self.samples if start <= at <= end]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def latency_line(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    p50, p99, top = percentile(ms, 50), percentile(ms, 99), max(ms, default=0)
    return f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {top:6.1f} ms  (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--multipart", action="store_true", help="upload as multipart/form-data instead of the body")
    args = parser.parse_args()
    load_before = os.getloadavg()

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bare, archive, tree = generate(args.files, args.megabytes, args.seed)
    served = WORK / "served"
    if served.is_symlink() or served.exists():
        served.unlink() if served.is_symlink() else shutil.rmtree(served)
    served.symlink_to(bare.parent)
    origin_url = (served / bare.name).as_uri()
    total = sum(path.stat().st_size for path in tree.rglob("*") if path.is_file())
    binary = sum(1 for path in tree.rglob("*.bin"))
    print(
        f"bench/import.py: {args.files} files ({binary} binary), {total / 1e6:.1f} MB,"
        f" zip {archive.stat().st_size / 1e6:.1f} MB"
        f" (generated or reused in {time.monotonic() - started:.1f} s); {args.rounds} rounds; {os.cpu_count()} CPUs;"
        f" load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}"
    )

    recreate_database(os.environ["DATABASE_URL"])
    shutil.rmtree(WORK / "data", ignore_errors=True)
    import django

    django.setup()
    import httpx
    import psutil
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from tests.support.live import celery_worker, daphne_server
    from workspace.collab.files import create_file_with_text
    from workspace.projects.services import create_workspace
    from workspace.repos.models import ImportJob

    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="bench-import", password=secrets.token_urlsafe(12))
    probe_workspace = create_workspace(user, "Probe")
    probe_file = create_file_with_text(probe_workspace, "typing.txt", "")
    session = Client()
    session.force_login(user)
    cookies = {"sessionid": session.cookies["sessionid"].value}

    def wait_finished(import_id: int, timeout: float = 900) -> ImportJob:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = ImportJob.objects.get(id=import_id)
            if job.status in ("succeeded", "failed"):
                return job
            time.sleep(0.02)
        raise TimeoutError(f"import {import_id} did not finish")

    figures: dict[str, list[float]] = {k: [] for k in ("reference", "archive", "upload", "clone", "export", "zip")}
    peaks: dict[str, list[dict[str, tuple[int, int]]]] = {"archive": [], "clone": [], "export": []}
    windows: dict[str, list[tuple[float, float]]] = {"idle": [], "archive": [], "clone": []}

    with daphne_server() as base, celery_worker(concurrency=1):
        port = base.rsplit(":", 1)[1]
        me = psutil.Process()
        web_pid = next(
            p.pid for p in me.children(recursive=True) if "workspace.serve" in p.cmdline() and port in p.cmdline()
        )
        worker_pid = next(p.pid for p in me.children() if "celery" in " ".join(p.cmdline()))
        sampler = RssSampler({"web": web_pid, "worker": worker_pid})
        sampler.thread.start()
        probe = KeystrokeProbe(base, probe_file.id, user.id)
        probe.thread.start()
        probe.ready.wait(30)
        http = httpx.Client(base_url=base, cookies=cookies, timeout=900)
        http.get("/")  # sets the csrftoken cookie
        csrf = {"X-CSRFToken": http.cookies["csrftoken"]}

        def idle(seconds: float = 4.0) -> None:
            start = time.monotonic()
            time.sleep(seconds)
            windows["idle"].append((start, time.monotonic()))

        def new_workspace(name: str) -> int:
            response = http.post("/api/workspaces", json={"name": name, "empty": True}, headers=csrf)
            response.raise_for_status()
            return response.json()["id"]

        idle(6.0)
        for number in range(1, args.rounds + 1):
            target = WORK / "reference"
            shutil.rmtree(target, ignore_errors=True)
            start = time.monotonic()
            subprocess.run(["git", "clone", "-q", "--depth", "1", origin_url, str(target)], env=GIT_ENV, check=True)
            figures["reference"].append(time.monotonic() - start)
            idle()

            workspace_id = new_workspace(f"archive {number}")
            sampler.reset()
            start, wall = time.monotonic(), time.time()
            with open(archive, "rb") as handle:
                if args.multipart:
                    upload = {"files": {"archive": ("origin.zip", handle, "application/zip")}, "headers": csrf}
                else:  # what the editor sends: the archive as the body
                    upload = {"content": handle, "headers": {**csrf, "Content-Type": "application/zip"}}
                response = http.post(f"/api/workspaces/{workspace_id}/import?name=origin.zip", **upload)
            response.raise_for_status()
            figures["upload"].append(time.monotonic() - start)
            job = wait_finished(response.json()["id"])
            assert job.status == "succeeded", job.error
            assert job.summary["imported"] == args.files, job.summary
            figures["archive"].append(job.finished_at.timestamp() - wall)
            windows["archive"].append((start, time.monotonic()))
            peaks["archive"].append(sampler.figures())
            archive_workspace = workspace_id
            idle()

            workspace_id = new_workspace(f"clone {number}")
            sampler.reset()
            start, wall = time.monotonic(), time.time()
            response = http.post(f"/api/workspaces/{workspace_id}/import", json={"git_url": origin_url}, headers=csrf)
            response.raise_for_status()
            job = wait_finished(response.json()["id"])
            assert job.status == "succeeded", job.error
            figures["clone"].append(job.finished_at.timestamp() - wall)
            windows["clone"].append((start, time.monotonic()))
            peaks["clone"].append(sampler.figures())
            idle()

            sampler.reset()
            start = time.monotonic()
            size = 0
            with http.stream("GET", f"/api/workspaces/{archive_workspace}/archive") as stream:
                stream.raise_for_status()
                for chunk in stream.iter_bytes(1024 * 1024):
                    size += len(chunk)
            figures["export"].append(time.monotonic() - start)
            peaks["export"].append(sampler.figures())
            out = WORK / "reference.zip"
            out.unlink(missing_ok=True)
            start = time.monotonic()
            subprocess.run(["zip", "-r", "-q", "-6", str(out), ".", "-x", ".git/*"], cwd=target, check=True)
            figures["zip"].append(time.monotonic() - start)
            print(
                f"round {number}: git clone {figures['reference'][-1]:.2f} s"
                f" | archive import {figures['archive'][-1]:.2f} s"
                f" (upload {figures['upload'][-1]:.2f} s) | clone import {figures['clone'][-1]:.2f} s"
                f" | export {figures['export'][-1]:.2f} s ({size / 1e6:.1f} MB) | zip -r {figures['zip'][-1]:.2f} s"
                f" ({out.stat().st_size / 1e6:.1f} MB)",
                flush=True,
            )
            idle()
        probe.stop.set()
        sampler.stop.set()
        probe.thread.join(5)

    median = {name: statistics.median(values) for name, values in figures.items()}
    mib = 1024 * 1024
    print()
    print(f"median of {args.rounds}:")
    print(f"  reference git clone --depth 1 + write   {median['reference']:6.2f} s")

    def memory(kind: str, name: str) -> str:
        peak = max(figures[name][0] for figures in peaks[kind]) / mib
        growth = max(figures[name][1] for figures in peaks[kind]) / mib
        return f"{name} {peak:.0f} MiB (+{growth:.0f})"

    for kind in ("archive", "clone"):
        ratio = median[kind] / median["reference"]
        extra = f" (upload {median['upload']:.2f} s)" if kind == "archive" else ""
        print(
            f"  {kind:7} import                          {median[kind]:6.2f} s = {ratio:.2f}x the reference{extra};"
            f" peak RSS {memory(kind, 'web')}, {memory(kind, 'worker')}"
        )
    print(
        f"  export (GET …/archive)                  {median['export']:6.2f} s = {median['export'] / median['zip']:.2f}x"
        f" zip -r ({median['zip']:.2f} s); peak RSS {memory('export', 'web')}"
    )
    print("keystroke round trip (typist -> Daphne -> observer), every 25 ms:")
    for kind, spans in windows.items():
        values = [v for start, end in spans for v in probe.between(start, end)]
        print(f"  {kind:8} {latency_line(values)}")
    load_after = os.getloadavg()
    print(f"load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
