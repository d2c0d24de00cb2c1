"""`python -m workspace.host`: two web processes behind HAProxy, driven by real browsers and y-websocket clients.

Which process served a document socket is read from the web processes' own access logs (`--access-log-dir`:
one file per process, `"WSCONNECT /ws/yjs/<id>"` per accepted socket), not from the proxy.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from channels.db import database_sync_to_async

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    login,
    new_page,
    open_editor,
    run_orm,
    server_text,
    type_in_editor,
    wait_for_text_equal,
)
from tests.support.helpers import make_member, make_user
from tests.support.live import ROOT, child_env, free_port
from tests.support.ywebsockets import provider_client, room_url, wait_until
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

ORIGINAL = "def main():\n    print('hi')\n"


def wait_for(condition: Callable[[], object], message: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)


def wait_for_stored_text(file_id: int, expected: str, timeout: float = 10.0) -> str:
    """The file's stored text once it is `expected` (or what it is at the deadline).

    store.load_updates reads the snapshot and then the log in two statements, so a read racing the compaction
    that the host's Celery worker runs when a room empties can miss the folded updates; a later read sees them.
    """
    deadline = time.monotonic() + timeout
    while (text := store.load_text(file_id)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return text


def consecutive_free_ports(count: int) -> list[int]:
    for _ in range(50):
        first = free_port()
        ports = list(range(first, first + count))
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return ports
    raise RuntimeError("no consecutive free ports")


@dataclass
class RunningHost:
    proc: subprocess.Popen
    url: str
    ports: list[int]
    log: Path
    runtime_dir: Path
    access_dir: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def document_sockets(self, file_id: int) -> dict[int, int]:
        """Per web process (port), how many document sockets of `file_id` it accepted."""
        line = re.compile(rf'"WSCONNECT /ws/yjs/{file_id}/?"')
        counts = {}
        for port in self.ports:
            path = self.access_dir / f"web-{port}.log"
            text = path.read_text() if path.exists() else ""
            if found := len(line.findall(text)):
                counts[port] = found
        return counts

    def proxy_status(self) -> dict[str, str]:
        """HAProxy's view of each web process in the documents backend (`show stat` on the admin socket)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.runtime_dir / "haproxy.sock"))
            sock.sendall(b"show stat\n")
            data = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
        header, *rows = [line for line in data.splitlines() if line]
        names = header.lstrip("# ").split(",")
        stats = [dict(zip(names, row.split(","), strict=False)) for row in rows]
        return {s["svname"]: s["status"] for s in stats if s["pxname"] == "documents" and s["svname"].startswith("web")}

    def web_process(self, port: int) -> psutil.Process:
        for child in psutil.Process(self.proc.pid).children():
            if "workspace.serve" in child.cmdline() and str(port) in child.cmdline():
                return child
        raise AssertionError(f"no web process on port {port}")


@contextmanager
def running_host(base_dir: Path, web_processes: int = 2, ws_processes: int = 0) -> Iterator[RunningHost]:
    port, ports = free_port(), consecutive_free_ports(web_processes)
    runtime_dir, access_dir = base_dir / "run", base_dir / "access"
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    log = ROOT / "test-artifacts" / f"host-{port}.log"
    command = [sys.executable, "-m", "workspace.host", "--web-processes", str(web_processes), "--port", str(port)]
    command += ["--first-backend-port", str(ports[0]), "--celery-workers", "1", "--celery-concurrency", "1"]
    command += ["--runtime-dir", str(runtime_dir), "--access-log-dir", str(access_dir), "--no-release"]
    if ws_processes:
        first_ws_port = consecutive_free_ports(ws_processes)[0]
        command += ["--ws-processes", str(ws_processes), "--first-ws-port", str(first_ws_port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
    host = RunningHost(proc, f"http://127.0.0.1:{port}", ports, log, runtime_dir, access_dir)
    try:
        wait_for(
            lambda: proc.poll() is not None or "Sparkroom is serving" in host.output(), "the host never started", 120
        )
        assert proc.poll() is None, host.output()[-3000:]
        yield host
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def host(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[RunningHost]:
    with running_host(tmp_path_factory.mktemp("host")) as running:
        yield running


@pytest.fixture
def team(db):
    owner, editor = make_user("alice"), make_user("bob")
    workspace = create_workspace(owner, "Team")
    make_member(workspace, editor, Role.EDITOR)
    node = create_file_with_text(workspace, "src/main.py", ORIGINAL)
    return workspace, node


def editor_page(browser, base_url: str, username: str, workspace_id: int, file_id: int):
    page = new_page(browser)
    login(page, base_url, username)
    return open_editor(page, base_url, workspace_id, file_id)


def test_two_browsers_through_the_proxy_edit_one_file_served_by_one_process(team, host, browser):
    workspace, node = team
    alice = editor_page(browser, host.url, "alice", workspace.id, node.id)
    bob = editor_page(browser, host.url, "bob", workspace.id, node.id)
    try:
        type_in_editor(alice, "# from alice\n")
        wait_for_text_equal(bob, ORIGINAL + "# from alice\n")
        type_in_editor(bob, "# from bob\n")
        both = ORIGINAL + "# from alice\n# from bob\n"
        wait_for_text_equal(alice, both)
        assert server_text(alice, host.url, node.id) == both

        served_by = host.document_sockets(node.id)
        assert len(served_by) == 1 and sum(served_by.values()) >= 2, served_by
        assert alice.page_errors == [] and bob.page_errors == []
    finally:
        alice.context.close()
        bob.context.close()


@pytest.fixture
def many_files(db, user):
    workspace = create_workspace(user, "Many")
    return [create_file_with_text(workspace, f"f{i}.py").id for i in range(16)]


async def test_every_client_of_a_file_reaches_the_process_its_room_hashes_to(host, many_files, user):
    for file_id in many_files:
        url = room_url(host.url, file_id, user.id)
        async with provider_client(url) as first, provider_client(url) as second:
            first.insert(0, f"{file_id}\n")
            await wait_until(lambda: str(second) == f"{file_id}\n")  # noqa: B023 - awaited within the iteration
    served_by = {file_id: host.document_sockets(file_id) for file_id in many_files}
    assert all(len(ports) == 1 and sum(ports.values()) == 2 for ports in served_by.values()), served_by
    # The rooms are spread over both processes (16 files all on one of two: p = 2^-15).
    assert {port for ports in served_by.values() for port in ports} == set(host.ports)


def test_killed_process_hands_its_documents_to_another_and_takes_them_back(team, host, browser):
    workspace, node = team
    alice = editor_page(browser, host.url, "alice", workspace.id, node.id)
    bob = editor_page(browser, host.url, "bob", workspace.id, node.id)
    later = None
    try:
        type_in_editor(alice, "# one\n")
        wait_for_text_equal(bob, ORIGINAL + "# one\n")
        [serving] = host.document_sockets(node.id)
        [other] = [port for port in host.ports if port != serving]
        moved_before = host.document_sockets(node.id).get(other, 0)

        host.web_process(serving).send_signal(signal.SIGKILL)
        type_in_editor(alice, "# two\n")  # typed while the socket may be down: kept, sent after the reconnect
        wait_for(lambda: host.document_sockets(node.id).get(other, 0) >= moved_before + 2, "clients did not move")
        type_in_editor(bob, "# three\n")
        expected = ORIGINAL + "# one\n# two\n# three\n"
        wait_for_text_equal(alice, expected)
        wait_for_text_equal(bob, expected)
        assert server_text(bob, host.url, node.id) == expected

        # The host restarts the process; once HAProxy sees it healthy the file hashes to it again.
        wait_for(lambda: host.proxy_status().get(f"web-{serving}") == "UP", "the process never came back", 90)
        back_before = host.document_sockets(node.id).get(serving, 0)
        later = editor_page(browser, host.url, "alice", workspace.id, node.id)
        assert host.document_sockets(node.id).get(serving, 0) == back_before + 1
        wait_for_text_equal(later, expected)
        # Clients still on the other process and the new one share edits (through Redis, until they reconnect).
        type_in_editor(later, "# four\n")
        wait_for_text_equal(bob, expected + "# four\n")
        assert "restarting web-" in host.output()
        assert alice.page_errors == [] and bob.page_errors == [] and later.page_errors == []
    finally:
        for page in (alice, bob, later):
            if page is not None:
                page.context.close()
    assert run_orm(wait_for_stored_text, node.id, expected + "# four\n") == expected + "# four\n"


async def test_sighup_reloads_the_proxy_without_refusing_or_dropping_a_connection(host, workspace_with_file, user):
    _, node = workspace_with_file
    loads = host.output().count("Loading success")
    answered, failures, done = [], [], threading.Event()

    def keep_asking() -> None:  # plain HTTP through the proxy all along the reload
        while not done.is_set():
            try:
                with urllib.request.urlopen(host.url + "/accounts/login/", timeout=10) as reply:
                    answered.append(reply.status)
            except OSError as exc:
                failures.append(repr(exc))

    asking = threading.Thread(target=keep_asking)
    asking.start()
    try:
        async with provider_client(room_url(host.url, node.id, user.id)) as before:
            host.proc.send_signal(signal.SIGHUP)
            await wait_until(lambda: host.output().count("Loading success") > loads, timeout=30)
            async with provider_client(room_url(host.url, node.id, user.id)) as after:
                before.insert(0, "# after reload\n")  # the socket opened before the reload still works
                await wait_until(lambda: str(after).startswith("# after reload\n"))
    finally:
        done.set()
        asking.join(30)
    assert failures == [] and answered and set(answered) == {200}
    assert "reloading the proxy configuration" in host.output()
    expected = "# after reload\nprint('hi')\n"
    assert await database_sync_to_async(wait_for_stored_text)(node.id, expected) == expected


def descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def all_gone(processes: list[psutil.Process], timeout: float) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


def test_sigterm_stops_the_proxy_and_every_process(django_db_setup, tmp_path):
    with running_host(tmp_path, web_processes=1) as running:
        children = descendants(running.proc)
        assert {"haproxy", "celery", "workspace.serve"} <= {os.path.basename(w) for p in children for w in p.cmdline()}
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(60) == 0
        assert all_gone(children, timeout=5), [p.cmdline() for p in children if p.is_running()]
        output = running.output()
        assert output.index("host      | stopping haproxy\n") < output.index("host      | stopping web-")
        assert output.rstrip().endswith("stopped")


def test_a_killed_host_leaves_no_process_behind(django_db_setup, tmp_path):
    with running_host(tmp_path, web_processes=1) as running:
        children = descendants(running.proc)
        os.kill(running.proc.pid, signal.SIGKILL)
        running.proc.wait(10)
        assert all_gone(children, timeout=60), [p.cmdline() for p in children if p.is_running()]


def established_sockets(process: psutil.Process) -> int:
    """Client connections a server process holds on its listening port (its command line's `-p`)."""
    port = int(process.cmdline()[process.cmdline().index("-p") + 1])
    return sum(1 for c in process.net_connections(kind="tcp") if c.status == "ESTABLISHED" and c.laddr.port == port)


async def test_with_ws_processes_documents_go_to_uvicorn_and_pages_to_daphne(django_db_setup, tmp_path, user):
    """`--ws-processes 1`: both clients of a file on the uvicorn process, editing through it; pages still served."""
    node = await database_sync_to_async(lambda: create_file_with_text(create_workspace(user, "Ws"), "a.py"))()
    with running_host(tmp_path, web_processes=1, ws_processes=1) as running:
        children = psutil.Process(running.proc.pid).children()
        [uvicorn] = [child for child in children if "workspace.serve_ws" in child.cmdline()]
        url = room_url(running.url, node.id, user.id)
        async with provider_client(url) as first, provider_client(url) as second:
            first.insert(0, "through uvicorn\n")
            await wait_until(lambda: str(second) == "through uvicorn\n")
            assert established_sockets(uvicorn) == 2
        page = await asyncio.to_thread(urllib.request.urlopen, f"{running.url}/accounts/login/")
        assert page.status == 200
        page.close()
    assert await database_sync_to_async(wait_for_stored_text)(node.id, "through uvicorn\n") == "through uvicorn\n"
