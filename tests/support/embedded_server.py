"""A real web process in the embedded mode, as `make run` starts it, and a workspace-channel client for it.

The process is `python -m workspace.serve` on its own SQLite file: in-memory channel layer, in-memory
broker and the Celery worker thread inside it. Used by the embedded-mode tests and by bench/jobs.py;
pytest's own database is not involved (the set-up runs as `python -m tests.support.embedded_server DATA_DIR`).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.support.live import ROOT, free_port, wait_for_port

# What makes a process production-mode, or a test process, is left out of the child's environment.
DROPPED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_EMBEDDED_WORKER", "SPARKROOM_TEST_RUN_ID")


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and not k.startswith("PYTEST_")}
    env.update(
        {
            # A SQLite file of its own (the default would be the checkout's db.sqlite3); naming it sets
            # production mode's SECRET_KEY requirement, hence the key. Nothing else changes.
            "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SPARKROOM_DATA_DIR": str(data_dir),
            "SANDBOX_ROOT": str(data_dir / "sandbox"),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


@dataclass
class EmbeddedServer:
    base_url: str
    cookie: str
    workspace_id: int
    pid: int

    @contextmanager
    def workspace_socket(self) -> Iterator[WorkspaceClient]:
        from websockets.sync.client import connect

        url = self.base_url.replace("http://", "ws://") + f"/ws/workspace/{self.workspace_id}"
        with connect(url, additional_headers={"Cookie": self.cookie}, max_size=None) as ws:
            client = WorkspaceClient(ws)
            client.wait_for(lambda m: m["type"] == "hello")
            yield client


class WorkspaceClient:
    """The browser's side of /ws/workspace/<id>: sends requests, timestamps every message on arrival."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.finished: dict[int, tuple[dict, float]] = {}  # job id -> (final summary, arrival time)
        self._request = 0

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching message within {timeout}s")
            message = json.loads(self.ws.recv(timeout=remaining))
            if message["type"] == "job.finished":
                self.finished[message["job"]["id"]] = (message["job"], time.time())
            if predicate(message):
                return message

    def create_job(self, kind: str = "tests") -> int:
        self._request += 1
        request_id = f"r{self._request}"
        self.ws.send(json.dumps({"type": "jobs.create", "request_id": request_id, "kind": kind}))
        reply = self.wait_for(lambda m: m.get("request_id") == request_id)
        assert reply["type"] == "jobs.create.ok", reply
        return reply["job"]["id"]

    def wait_finished(self, job_id: int, timeout: float = 60.0) -> tuple[dict, float]:
        """The job's final summary and when it arrived here."""
        if job_id not in self.finished:
            self.wait_for(lambda m: m["type"] == "job.finished" and m["job"]["id"] == job_id, timeout)
        return self.finished[job_id]


def at(summary: dict, field: str) -> datetime:
    """A timestamp of a job summary (`created_at`, `started_at`, `finished_at`), written by the server."""
    return datetime.fromisoformat(summary[field])


@contextmanager
def embedded_server(data_dir: Path, **env: str) -> Iterator[EmbeddedServer]:
    """Migrate a fresh SQLite file in `data_dir`, add a user with a workspace, and serve it embedded."""
    data_dir.mkdir(parents=True, exist_ok=True)
    child_env = embedded_env(data_dir, **env)
    setup = subprocess.run(
        [sys.executable, "-m", "tests.support.embedded_server", str(data_dir)],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if setup.returncode:
        raise RuntimeError(f"embedded set-up failed: {setup.stderr[-2000:]}")
    made = json.loads(setup.stdout.strip().splitlines()[-1])
    port = free_port()
    log_path = data_dir / "daphne.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workspace.serve", "-b", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, proc)
            yield EmbeddedServer(f"http://127.0.0.1:{port}", made["cookie"], made["workspace_id"], proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _set_up(data_dir: Path) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from workspace.projects.services import create_workspace

    assert str(settings.DATABASES["default"]["NAME"]).startswith(str(data_dir)), settings.DATABASES
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="embedded", password=secrets.token_urlsafe(16))
    workspace = create_workspace(user, "Embedded")
    client = Client()
    client.force_login(user)
    return {"cookie": f"sessionid={client.cookies['sessionid'].value}", "workspace_id": workspace.id}


if __name__ == "__main__":
    print(json.dumps(_set_up(Path(sys.argv[1]))))
