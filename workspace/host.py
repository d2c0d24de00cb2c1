"""Every core of one host: N web processes behind HAProxy, and Celery workers, started and stopped as one.

    python -m workspace.host --web-processes 2 --port 8000      (or: make serve-host WEB_PROCESSES=2)
    python -m workspace.host --web-processes 1 --ws-processes 2  (documents on uvicorn: make serve-host WS_PROCESSES=2)

Production mode only (DATABASE_URL, REDIS_URL, SECRET_KEY). The proxy's routing rules are in
deploy/haproxy.cfg.template; this module fills in the processes (`render_config`), installs HAProxy from Debian
if it is missing (scripts/ensure_proxy.sh), migrates and collects the static files, starts everything, prefixes
each child's output with its name, restarts a child that dies (with back-off), re-renders and reloads the proxy
on SIGHUP, and on SIGINT / SIGTERM stops the proxy first, then the rest. Children run in sessions of their own
and are sent SIGTERM by the kernel if this process dies, so none is ever orphaned.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "haproxy.cfg.template"
ENSURE_PROXY = ROOT / "scripts" / "ensure_proxy.sh"
BACKEND_HOST = "127.0.0.1"
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Options:
    web_processes: int
    ws_processes: int
    first_ws_port: int
    bind: str
    port: int
    first_backend_port: int
    celery_workers: int
    celery_concurrency: int
    runtime_dir: Path
    access_log_dir: Path | None
    stop_timeout: float


def web_command(port: int, options: Options) -> list[str]:
    """A Daphne web process (`workspace.serve`) trusting the proxy's X-Forwarded-* headers."""
    command = [sys.executable, "-m", "workspace.serve", "-b", BACKEND_HOST, "-p", str(port), "--proxy-headers"]
    command += ["-v", "0"]  # HAProxy logs every request and WebSocket with the process that served it
    if options.access_log_dir is not None:
        command += ["--access-log", str(options.access_log_dir / f"web-{port}.log")]
    return command


def ws_command(port: int, options: Options) -> list[str]:
    """A uvicorn document process (`workspace.serve_ws`) trusting the proxy's X-Forwarded-* headers."""
    return [sys.executable, "-m", "workspace.serve_ws", "-b", BACKEND_HOST, "-p", str(port), "--proxy-headers"]


# The process types whose processes the proxy routes to, by the name the template's {{servers <type>}} uses.
PROCESS_TYPES: dict[str, Callable[[int, Options], list[str]]] = {"web": web_command, "ws": ws_command}


def backend_ports(options: Options) -> dict[str, list[int]]:
    first = options.first_backend_port
    ports = {"web": list(range(first, first + options.web_processes))}
    if options.ws_processes:
        ports["ws"] = list(range(options.first_ws_port, options.first_ws_port + options.ws_processes))
    return ports


def documents_served_by(template: str, process_type: str) -> str:
    """The template with `backend documents` (/ws/yjs/) served by `process_type` instead of the web processes."""
    start = template.index("\nbackend documents\n")
    end = template.find("\nbackend ", start + 1)
    end = len(template) if end < 0 else end
    section = template[start:end]
    if section.count("{{servers web}}") != 1:
        raise ValueError("backend documents must have exactly one {{servers web}} line")
    return template[:start] + section.replace("{{servers web}}", f"{{{{servers {process_type}}}}}") + template[end:]


def server_name(process_type: str, port: int) -> str:
    return f"{process_type}-{port}"


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(?:\s+([A-Za-z0-9_-]+))?\s*\}\}")


def render_config(
    template: str, *, listen: str, runtime_dir: Path, check_host: str, servers: dict[str, list[int]]
) -> str:
    """The HAProxy configuration: `template` with its placeholders filled in (see the template's header).

    A `{{servers <type>}}` line becomes one `server` line per port of that type. Each process is health-checked
    in the first backend naming its type (and marked down at once when a connection to it fails); later backends
    track that check, so a process gets one check per interval however many routes it serves.
    """
    values = {"listen": listen, "runtime_dir": str(runtime_dir), "check_host": check_host}

    def fill(found: re.Match) -> str:
        if found.group(1) not in values or found.group(2):
            raise ValueError(f"unknown placeholder {found.group(0)!r} in the proxy template")
        return values[found.group(1)]

    checked_in: dict[str, str] = {}
    backend = None
    lines = []
    for line in template.splitlines():
        words = line.split()
        if words[:1] == ["backend"] and len(words) > 1:
            backend = words[1]
        if words[:1] and words[0].startswith("#"):
            lines.append(line)
            continue
        match = _PLACEHOLDER.fullmatch(line.strip())
        if match and match.group(1) == "servers":
            process_type = match.group(2)
            if process_type not in servers or backend is None:
                raise ValueError(f"{{{{servers {process_type}}}}} names no process type here: {line.strip()!r}")
            indent = line[: len(line) - len(line.lstrip())]
            first = checked_in.setdefault(process_type, backend)
            for port in servers[process_type]:
                name = server_name(process_type, port)
                health = (
                    "check observe layer4 error-limit 1 on-error mark-down"
                    if first == backend
                    else f"track {first}/{name}"
                )
                lines.append(f"{indent}server {name} {BACKEND_HOST}:{port} {health} on-marked-down shutdown-sessions")
            continue
        lines.append(_PLACEHOLDER.sub(fill, line))
    return "\n".join(lines) + "\n"


def health_check_host(allowed_hosts: list[str]) -> str:
    """A Host header Django accepts: the first ALLOWED_HOSTS entry, as a name (`.example.com` -> example.com)."""
    for host in allowed_hosts:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


def listen_address(bind: str, port: int) -> str:
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def config_for(options: Options) -> str:
    from django.conf import settings

    template = TEMPLATE.read_text()
    if options.ws_processes:
        template = documents_served_by(template, "ws")
    return render_config(
        template,
        listen=listen_address(options.bind, options.port),
        runtime_dir=options.runtime_dir,
        check_host=health_check_host(settings.ALLOWED_HOSTS),
        servers=backend_ports(options),
    )


def check_production_mode() -> None:
    """The topology shares PostgreSQL and Redis between its processes; refuse the embedded defaults."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        engine = settings.DATABASES["default"]["ENGINE"]
    except ImproperlyConfigured as exc:  # production mode without SECRET_KEY
        raise SystemExit(f"workspace.host: {exc}") from None
    if engine != "django.db.backends.postgresql" or not settings.REDIS_URL:
        raise SystemExit(
            "workspace.host runs the production topology: set DATABASE_URL (PostgreSQL), REDIS_URL and SECRET_KEY "
            "(see README, Production mode); `make run` serves the embedded mode"
        )


def haproxy_binary() -> str:
    found = shutil.which("haproxy")
    if found is None:
        subprocess.run(["bash", str(ENSURE_PROXY)], check=True)
        found = shutil.which("haproxy")
    if found is None:
        raise SystemExit("workspace.host: haproxy is not installed and scripts/ensure_proxy.sh could not install it")
    return found


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to SIGTERM the child when this process ends (Linux: PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the prctl
            os._exit(1)

    return preexec


@dataclass
class Child:
    name: str
    command: list[str]
    port: int | None = None
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    pending: bytes = b""


class Host:
    """Starts the children, supervises them, and stops them; output goes to `out`, one prefixed line at a time."""

    def __init__(self, options: Options, out=None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.reload_requested = False
        self.config_path = options.runtime_dir / "haproxy.cfg"
        self.web = [
            Child(server_name(kind, port), PROCESS_TYPES[kind](port, options), port)
            for kind, ports in backend_ports(options).items()
            for port in ports
        ]
        self.workers = [
            Child(
                f"celery-{index}",
                [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-l", "INFO"]
                + ["--concurrency", str(options.celery_concurrency), "-n", f"worker{index}@%h"],
            )
            for index in range(1, options.celery_workers + 1)
        ]
        self.proxy = Child("haproxy", [haproxy_binary(), "-W", "-db", "-f", str(self.config_path)], options.port)

    @property
    def children(self) -> list[Child]:
        return [*self.web, *self.workers, self.proxy]

    def say(self, message: str) -> None:
        self.out.write(f"{'host':<10}| {message}\n")
        self.out.flush()

    def spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.command,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl+C reaches only the host, which stops them in order
            preexec_fn=_die_with_parent(os.getpid()),
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pending = b""
        os.set_blocking(child.proc.stdout.fileno(), False)
        self.selector.register(child.proc.stdout, selectors.EVENT_READ, child)

    def pump(self, timeout: float) -> None:
        """Copy what the children wrote, line by line with their names, for up to `timeout` seconds."""
        for key, _ in self.selector.select(timeout):
            child: Child = key.data
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                self.selector.unregister(key.fileobj)
                key.fileobj.close()
                data = b"\n" if child.pending else b""
            *lines, child.pending = (child.pending + data).split(b"\n")
            for line in lines:
                self.out.write(f"{child.name:<10}| {line.decode(errors='replace')}\n")
            self.out.flush()

    def wait_for_port(self, child: Child, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        host = self.options.bind if child is self.proxy else BACKEND_HOST
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                self.pump(0.2)
                raise SystemExit(f"workspace.host: {child.name} exited with {child.proc.returncode} while starting")
            try:
                with socket.create_connection((host, child.port), timeout=0.5):
                    return
            except OSError:
                self.pump(0.1)
            if self.stopping:
                return
        raise SystemExit(f"workspace.host: nothing listens on port {child.port} for {child.name} after {timeout:g}s")

    def write_config(self) -> bool:
        """Render the proxy configuration and keep it only if HAProxy accepts it."""
        self.options.runtime_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.config_path.with_suffix(".cfg.new")
        candidate.write_text(config_for(self.options))
        command = [self.proxy.command[0], "-c", "-q", "-f", str(candidate)]
        check = subprocess.run(command, capture_output=True, text=True)
        if check.returncode != 0:
            self.say(f"the proxy configuration is invalid, keeping the running one:\n{check.stdout}{check.stderr}")
            candidate.unlink()
            return False
        candidate.replace(self.config_path)
        return True

    def start(self) -> None:
        for child in [*self.web, *self.workers]:
            self.spawn(child)
        for child in self.web:
            self.wait_for_port(child)
        if self.stopping:
            return
        if not self.write_config():
            raise SystemExit("workspace.host: the proxy configuration is invalid")
        self.spawn(self.proxy)
        self.wait_for_port(self.proxy)
        if self.stopping:
            return
        ports = backend_ports(self.options)
        processes = ", ".join(
            f"{len(ports[kind])} {kind} processes (ports {ports[kind][0]}-{ports[kind][-1]})" for kind in ports
        )
        self.say(
            f"Sparkroom is serving http://{listen_address(self.options.bind, self.options.port)}/ with "
            f"{processes}, {len(self.workers)} Celery worker(s) and HAProxy ({self.config_path}); Ctrl+C stops"
        )

    def supervise_once(self) -> None:
        self.pump(0.2)
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.restart_at is None and child.proc.poll() is not None:
                code = child.proc.returncode
                if now - child.started_at >= STABLE_AFTER_SECONDS:
                    child.failures = 0
                delay = RESTART_DELAYS[min(child.failures, len(RESTART_DELAYS) - 1)]
                child.failures += 1
                child.restart_at = now + delay
                self.say(f"{child.name} exited with {code}; restarting it in {delay:g}s")
            elif child.restart_at is not None and now >= child.restart_at:
                self.say(f"restarting {child.name}")
                self.spawn(child)
        if self.reload_requested:
            self.reload_requested = False
            if self.proxy.proc is not None and self.proxy.proc.poll() is None and self.write_config():
                self.proxy.proc.send_signal(signal.SIGUSR2)
                self.say("reloading the proxy configuration")

    def stop(self) -> None:
        """The proxy first (no new connections), then the web processes and workers; SIGKILL after the timeout."""
        for group in ([self.proxy], [*self.web, *self.workers]):
            running = [c for c in group if c.proc is not None and c.proc.poll() is None]
            if running:
                self.say(f"stopping {', '.join(child.name for child in running)}")
            for child in running:
                child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.options.stop_timeout
            while any(c.proc.poll() is None for c in running) and time.monotonic() < deadline:
                self.pump(0.1)
            for child in running:
                if child.proc.poll() is None:
                    self.say(f"{child.name} did not stop within {self.options.stop_timeout:g}s; killing it")
                    child.proc.kill()
                    child.proc.wait()
        deadline = time.monotonic() + 2  # what they wrote last; a pipe a grandchild still holds is not waited for
        while self.selector.get_map() and time.monotonic() < deadline:
            self.pump(0.1)
        self.say("stopped")

    def run(self) -> None:
        def request_stop(signum: int, _frame) -> None:
            self.stopping = True

        def request_reload(signum: int, _frame) -> None:
            self.reload_requested = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGHUP, request_reload)
        try:
            self.start()
            while not self.stopping:
                self.supervise_once()
        finally:
            self.stop()


def release() -> None:
    """What the Procfile's release step does: migrate, collect the static files."""
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        if subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT).returncode != 0:
            raise SystemExit(f"workspace.host: manage.py {command[0]} failed (see above); nothing was started")


def parse_options(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    from django.conf import settings

    parser = argparse.ArgumentParser(prog="python -m workspace.host", description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-processes", type=int, default=len(os.sched_getaffinity(0)), help="default: one per core")
    parser.add_argument("--bind", default="127.0.0.1", help="the proxy's address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the proxy's port (default 8000)")
    parser.add_argument(
        "--first-backend-port", type=int, default=8101, help="web processes listen on 127.0.0.1 from this port on"
    )
    parser.add_argument(
        "--ws-processes",
        type=int,
        default=0,
        help="uvicorn processes (workspace.serve_ws) serving /ws/yjs/ instead of the web processes (default 0: none)",
    )
    parser.add_argument(
        "--first-ws-port", type=int, default=8201, help="uvicorn processes listen on 127.0.0.1 from this port on"
    )
    parser.add_argument("--celery-workers", type=int, default=1, help="Celery worker processes (0: none here)")
    parser.add_argument("--celery-concurrency", type=int, default=2, help="pool size of each Celery worker")
    parser.add_argument("--runtime-dir", type=Path, default=settings.SPARKROOM_DATA_DIR / "host")
    parser.add_argument(
        "--access-log-dir", type=Path, help="each web process writes its access log here (the ws processes keep none)"
    )
    parser.add_argument("--stop-timeout", type=float, default=30.0, help="seconds a child gets to stop")
    parser.add_argument("--no-release", action="store_true", help="do not migrate and collect static files first")
    parser.add_argument("--print-config", action="store_true", help="print the proxy configuration and exit")
    args = parser.parse_args(argv)
    if args.web_processes < 1:
        parser.error("--web-processes must be at least 1")
    if args.ws_processes < 0:
        parser.error("--ws-processes must be 0 or more")
    options = Options(
        web_processes=args.web_processes,
        ws_processes=args.ws_processes,
        first_ws_port=args.first_ws_port,
        bind=args.bind,
        port=args.port,
        first_backend_port=args.first_backend_port,
        celery_workers=args.celery_workers,
        celery_concurrency=args.celery_concurrency,
        runtime_dir=args.runtime_dir.resolve(),
        access_log_dir=args.access_log_dir.resolve() if args.access_log_dir else None,
        stop_timeout=args.stop_timeout,
    )
    return options, args


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    check_production_mode()
    options, args = parse_options(argv)
    if args.print_config:
        sys.stdout.write(config_for(options))
        return
    if options.access_log_dir is not None:
        options.access_log_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_release:
        release()
    Host(options).run()


if __name__ == "__main__":
    main()
