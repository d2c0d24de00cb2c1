"""The single-host proxy (deploy/haproxy.cfg.template as workspace.host renders it), run by HAProxy itself.

The routing is checked against stand-in backends that answer with their port, so these tests need HAProxy
(scripts/ensure_proxy.sh) but no Sparkroom process; tests/platform/test_proxy_host.py runs the whole host.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.live import free_port
from workspace.host import TEMPLATE, documents_served_by, health_check_host, render_config

HAPROXY = "/usr/sbin/haproxy"


@pytest.fixture(scope="module", autouse=True)
def haproxy_installed() -> None:
    if not os.path.exists(HAPROXY):
        pytest.fail("HAProxy not found; run scripts/ensure_proxy.sh")


def server_lines(config: str) -> list[tuple[str, list[str]]]:
    """(backend, words of the line) of every `server` line of a rendered configuration."""
    backend, found = "", []
    for line in config.splitlines():
        words = line.split()
        if words[:1] == ["backend"]:
            backend = words[1]
        elif words[:1] == ["server"]:
            found.append((backend, words))
    return found


def render(runtime_dir: Path, servers: dict[str, list[int]], template: str | None = None, port: int = 8000) -> str:
    return render_config(
        TEMPLATE.read_text() if template is None else template,
        listen=f"127.0.0.1:{port}",
        runtime_dir=runtime_dir,
        check_host="127.0.0.1",
        servers=servers,
    )


def haproxy_accepts(config: str, path: Path) -> subprocess.CompletedProcess:
    path.write_text(config)
    return subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True)


@pytest.mark.embedded
def test_every_route_gets_one_server_per_process_and_each_process_one_health_check(tmp_path):
    config = render(tmp_path, {"web": [8101, 8102, 8103]})
    by_backend: dict[str, list[list[str]]] = {}
    for backend, words in server_lines(config):
        by_backend.setdefault(backend, []).append(words)
    assert sorted(by_backend) == ["documents", "http", "workspaces"]
    for backend, lines in by_backend.items():
        assert [words[2] for words in lines] == ["127.0.0.1:8101", "127.0.0.1:8102", "127.0.0.1:8103"]
        assert all("shutdown-sessions" in words for words in lines)
        if backend == "documents":
            assert all("check" in words and "observe" in words for words in lines)
        else:
            assert [words[words.index("track") + 1] for words in lines] == [
                "documents/web-8101",
                "documents/web-8102",
                "documents/web-8103",
            ]
    assert "{{" not in config.split("\nglobal", 1)[1]


@pytest.mark.embedded
def test_serving_documents_with_another_process_type_is_a_one_line_change(tmp_path):
    template = TEMPLATE.read_text()
    documents = template.index("backend documents")
    line = template.index("{{servers web}}", documents)
    changed = template[:line] + "{{servers edge}}" + template[line + len("{{servers web}}") :]
    assert len(changed.splitlines()) == len(template.splitlines())

    config = render(tmp_path, {"web": [8101, 8102], "edge": [8201]}, changed)
    lines = server_lines(config)
    assert [(b, w[2], "check" in w) for b, w in lines if b == "documents"] == [("documents", "127.0.0.1:8201", True)]
    assert [(w[2], "check" in w) for b, w in lines if b == "workspaces"] == [
        ("127.0.0.1:8101", True),
        ("127.0.0.1:8102", True),
    ]
    assert [w[w.index("track") + 1] for b, w in lines if b == "http"] == ["workspaces/web-8101", "workspaces/web-8102"]
    checked = haproxy_accepts(config, tmp_path / "haproxy.cfg")
    assert checked.returncode == 0, checked.stderr


@pytest.mark.embedded
def test_ws_processes_take_only_the_documents_route_with_one_line_changed(tmp_path):
    """What `--ws-processes` renders: /ws/yjs/ on the uvicorn processes, everything else on the web processes."""
    template = TEMPLATE.read_text()
    changed = documents_served_by(template, "ws")
    assert [a for a, b in zip(template.splitlines(), changed.splitlines(), strict=True) if a != b] == [
        "    {{servers web}}"
    ]
    lines = server_lines(render(tmp_path, {"web": [8101], "ws": [8201, 8202]}, changed))
    assert [(w[1], "check" in w) for b, w in lines if b == "documents"] == [("ws-8201", True), ("ws-8202", True)]
    assert [w[1] for b, w in lines if b != "documents"] == ["web-8101", "web-8101"]


@pytest.mark.embedded
def test_unknown_placeholders_and_process_types_are_refused(tmp_path):
    with pytest.raises(ValueError, match="names no process type"):
        render(tmp_path, {"other": [8101]})
    with pytest.raises(ValueError, match="unknown placeholder"):
        render(tmp_path, {"web": [8101]}, TEMPLATE.read_text() + "    bind {{nowhere}}\n")


@pytest.mark.embedded
def test_health_checks_send_a_host_django_accepts():
    assert health_check_host(["sparkroom.example.com", "localhost"]) == "sparkroom.example.com"
    assert health_check_host([".example.com"]) == "example.com"
    assert health_check_host(["*"]) == "localhost"


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_haproxy_accepts_the_rendered_configuration(tmp_path, processes):
    config = render(tmp_path, {"web": list(range(8101, 8101 + processes))})
    checked = haproxy_accepts(config, tmp_path / "haproxy.cfg")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_host_refuses_the_embedded_mode():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "workspace.settings"
    done = subprocess.run(
        [sys.executable, "-m", "workspace.host", "--print-config"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode != 0
    assert "DATABASE_URL" in done.stderr and "REDIS_URL" in done.stderr and done.stdout == ""


# --- HAProxy in front of stand-in backends ---


class StandIn(http.server.BaseHTTPRequestHandler):
    """Answers every request with its server's port, and echoes the forwarded headers it got; answers its health
    check (the log-in page) after `server.check_delay` seconds."""

    def do_GET(self) -> None:
        if self.path == "/accounts/login/":
            time.sleep(getattr(self.server, "check_delay", 0))
        body = str(self.server.server_address[1]).encode()
        self.send_response(200)
        for name in ("X-Forwarded-For", "X-Forwarded-Proto"):
            self.send_header(f"Seen-{name}", self.headers.get(name, ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class StandIns:
    def __init__(self, count: int) -> None:
        self.ports = consecutive_free_ports(count)
        self.servers: dict[int, http.server.ThreadingHTTPServer] = {}
        for port in self.ports:
            self.start(port)

    def start(self, port: int) -> None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), StandIn)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers[port] = server

    def stop(self, port: int) -> None:
        server = self.servers.pop(port)
        server.shutdown()
        server.server_close()

    def close(self) -> None:
        for port in list(self.servers):
            self.stop(port)


def consecutive_free_ports(count: int) -> list[int]:
    import socket

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


@contextmanager
def proxy_in_front_of(ports: list[int], runtime_dir: Path) -> Iterator[str]:
    port = free_port()
    config_path = runtime_dir / "haproxy.cfg"
    config_path.write_text(render(runtime_dir, {"web": ports}, port=port))
    proc = subprocess.Popen(
        [HAPROXY, "-W", "-db", "-f", str(config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answered_by(base, "/accounts/login/") is not None, "the proxy never answered")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def answered_by(base: str, path: str, headers: dict[str, str] | None = None) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers or {}), timeout=15) as reply:
            return int(reply.read())
    except OSError:
        return None


def wait_for(condition, message: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)


@pytest.fixture
def stand_ins():
    backends = StandIns(3)
    yield backends
    backends.close()


def placement(base: str, prefix: str, ids: range) -> dict[int, int]:
    return {i: answered_by(base, f"{prefix}{i}?token=t{i}") for i in ids}


IDS = range(1, 61)


def test_every_client_of_a_document_or_workspace_reaches_the_same_process(stand_ins, tmp_path):
    with proxy_in_front_of(stand_ins.ports, tmp_path) as base:
        for prefix in ("/ws/yjs/", "/ws/workspace/"):
            first = placement(base, prefix, IDS)
            # Other clients of the same rooms (another token, a trailing slash) land where the first ones did.
            assert {i: answered_by(base, f"{prefix}{i}?token=other") for i in IDS} == first
            assert {i: answered_by(base, f"{prefix}{i}/") for i in IDS} == first
            assert set(first.values()) == set(stand_ins.ports)  # and the rooms are spread over all processes


def test_only_the_rooms_of_a_failed_process_move_and_they_come_back(stand_ins, tmp_path):
    with proxy_in_front_of(stand_ins.ports, tmp_path) as base:
        before = placement(base, "/ws/yjs/", IDS)
        failed = stand_ins.ports[1]
        stand_ins.stop(failed)
        during = placement(base, "/ws/yjs/", IDS)  # no request fails: a refused connection is redispatched
        assert None not in during.values() and failed not in during.values()
        assert {i: p for i, p in during.items() if before[i] != failed} == {
            i: p for i, p in before.items() if p != failed
        }
        stand_ins.start(failed)
        wait_for(lambda: placement(base, "/ws/yjs/", IDS) == before, "the process's rooms never came back")


def proxy_status(runtime_dir: Path) -> dict[str, str]:
    """HAProxy's view of each process in the documents backend (`show stat` on the admin socket)."""
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(runtime_dir / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    header, *rows = [line for line in data.splitlines() if line]
    names = header.lstrip("# ").split(",")
    stats = [dict(zip(names, row.split(","), strict=False)) for row in rows]
    return {s["svname"]: s["status"] for s in stats if s["pxname"] == "documents" and s["svname"].startswith("web")}


def test_a_busy_process_that_answers_its_checks_late_keeps_its_rooms(stand_ins, tmp_path):
    with proxy_in_front_of(stand_ins.ports, tmp_path) as base:
        before = placement(base, "/ws/yjs/", IDS)
        busy = stand_ins.ports[0]
        stand_ins.servers[busy].check_delay = 2.5  # type: ignore[attr-defined]
        time.sleep(6)  # six check intervals
        assert proxy_status(tmp_path)[f"web-{busy}"].startswith("UP")
        assert placement(base, "/ws/yjs/", IDS) == before


def test_pages_are_spread_over_every_process(stand_ins, tmp_path):
    with proxy_in_front_of(stand_ins.ports, tmp_path) as base:
        assert {answered_by(base, f"/w/{i}/") for i in range(12)} == set(stand_ins.ports)


def test_forwarded_headers_sent_by_a_client_are_replaced_by_the_proxy(stand_ins, tmp_path):
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with proxy_in_front_of(stand_ins.ports, tmp_path) as base:
        request = urllib.request.Request(base + "/accounts/login/", headers=spoofed)
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.headers["Seen-X-Forwarded-For"] == "127.0.0.1"
            assert reply.headers["Seen-X-Forwarded-Proto"] == "http"
