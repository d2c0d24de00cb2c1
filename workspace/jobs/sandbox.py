"""Run a shell command of a job, confined and bounded.

Backends:
- "bwrap" (the default): bubblewrap, with `launcher.py` as the first process inside. Nothing of the host is visible
  but /usr and the Python install (read-only); no network; its own pid namespace (the command sees and signals only
  its own processes, and none outlives it). The job's files are copied into a tmpfs of SANDBOX_DISK_LIMIT bytes
  holding /workspace and /tmp, and copied back when the command ends on its own. The command runs as an
  unprivileged uid in a user namespace of its own with RLIMIT_NPROC = SANDBOX_PROCESS_LIMIT (counted per command)
  and cannot create user namespaces. Reaching either limit kills it and is reported as such.
- "rlimit": UNSAFE, only when the operator sets SANDBOX_BACKEND=rlimit. A plain subprocess with rlimits (CPU,
  memory, file size, processes, the last not binding root), a scrubbed environment and, when `unshare -rn` works,
  no network. It does NOT hide the host's files, nor stop processes the command leaves behind.

Without a working bubblewrap and without that opt-in, commands are refused (`SandboxUnavailable`, saying how to
enable one); `status()` says which backend is active or why none is.

Both: a wall-clock limit, an output cap, cancellation (the whole process group is killed) and death with the
worker (PDEATHSIG), so a killed worker leaves no orphan command behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from workspace.jobs.launcher import write_tar

logger = logging.getLogger(__name__)

SANDBOX_MOUNT = "/workspace"
SCRATCH_MOUNT = "/scratch"  # the size-limited tmpfs; /workspace and /tmp are symlinks into it
LAUNCHER = Path(__file__).with_name("launcher.py")
LAUNCHER_MOUNT = "/run/sparkroom/launcher.py"
PR_SET_PDEATHSIG = 1
FILE_SIZE_LIMIT = 64 * 1024 * 1024
READ_CHUNK = 4096
STATUS_LINE_LIMIT = 4096
COLLECT_TIMEOUT = 60.0
PROBE_RETRY_SECONDS = 60.0
ENABLE_HINT = "install bubblewrap (apt-get install bubblewrap) or set SANDBOX_BACKEND=rlimit"
UNSAFE = "to run commands unconfined (unsafe)"


class SandboxUnavailable(RuntimeError):
    """No sandbox can run commands here, and the operator did not opt into the unsafe fallback."""


@dataclass(frozen=True)
class SandboxStatus:
    backend: str | None  # "bwrap", "rlimit", or None: commands (and the jobs running them) are refused
    confined: bool
    message: str  # for users: no server paths
    detail: str = ""  # for the operator (logs): the executable, what a failed probe printed


@dataclass
class CommandResult:
    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    cancelled: bool
    backend: str
    duration: float
    limit_reached: str = ""  # e.g. "disk limit reached (SANDBOX_DISK_LIMIT = 256 MiB)"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.cancelled or self.limit_reached)

    def summary(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return f"timed out after {self.duration:.1f} s"
        if self.limit_reached:
            return self.limit_reached
        return f"exit code {self.exit_code}"


def bwrap_executable() -> str | None:
    """The absolute path of the `bwrap` on PATH: launched as is, since the sandbox's own environment is empty."""
    found = shutil.which("bwrap")
    return os.path.abspath(found) if found else None


_probes: dict[tuple[str, int], tuple[str, float]] = {}


def _probe(bwrap: str, euid: int) -> str:
    """'' when `bwrap` runs a command the way jobs do; else what went wrong (probed again after a while)."""
    known = _probes.get((bwrap, euid))
    if known is not None and (not known[0] or time.monotonic() - known[1] < PROBE_RETRY_SECONDS):
        return known[0]
    problem = _run_probe(bwrap)
    _probes[(bwrap, euid)] = (problem, time.monotonic())
    return problem


def _run_probe(bwrap: str) -> str:
    with tempfile.TemporaryDirectory(prefix="sparkroom-probe-") as tmp:
        root = Path(tmp)
        (root / "probe.txt").write_text("in\n")
        try:
            result = _run_bwrap(bwrap, "cat probe.txt > probe.out", root, 30.0, 4096, None)
        except OSError as exc:
            return f"cannot start {bwrap}: {exc}"
        out = root / "probe.out"
        if result.ok and out.is_file() and out.read_text() == "in\n":
            return ""
        return result.output.strip() or result.summary()


def clear_probe_cache() -> None:
    """Probe bubblewrap again on the next command (after installing it, or changing PATH)."""
    _probes.clear()


def bwrap_available() -> bool:
    bwrap = bwrap_executable()
    return bwrap is not None and not _probe(bwrap, os.geteuid())


def status() -> SandboxStatus:
    """Which backend runs commands, or why none does (for the settings page, the jobs panel and the job's error)."""
    wanted = settings.SANDBOX_BACKEND
    if wanted == "rlimit":
        return SandboxStatus(
            "rlimit",
            False,
            "SANDBOX_BACKEND=rlimit: commands run unconfined (unsafe): plain subprocesses with rlimits only, "
            "able to read the server's files. Install bubblewrap and unset SANDBOX_BACKEND to confine them.",
        )
    if wanted not in ("bwrap", "auto"):
        return SandboxStatus(None, False, f"No sandbox available: SANDBOX_BACKEND={wanted!r} is not bwrap or rlimit.")
    bwrap = bwrap_executable()
    if bwrap is None:
        return SandboxStatus(None, False, f"No sandbox available: {ENABLE_HINT} {UNSAFE}.")
    problem = _probe(bwrap, os.geteuid())
    if problem:
        return SandboxStatus(
            None,
            False,
            "No sandbox available: bubblewrap is installed but cannot run commands here (it needs namespaces, e.g. "
            "unprivileged user namespaces; the worker log says what failed). Allow them, or set "
            f"SANDBOX_BACKEND=rlimit {UNSAFE}.",
            f"{bwrap}: {problem}",
        )
    return SandboxStatus(
        "bwrap",
        True,
        f"bubblewrap: no network, no host files, at most {settings.SANDBOX_PROCESS_LIMIT} processes and "
        f"{_mib(settings.SANDBOX_DISK_LIMIT)} of files per command",
        bwrap,
    )


def chosen_backend() -> str:
    """The backend commands run under; raises SandboxUnavailable (with how to enable one) when there is none."""
    current = status()
    if current.backend is None:
        if current.detail:
            logger.warning("sandbox unavailable: %s", current.detail)
        raise SandboxUnavailable(current.message)
    if current.backend == "rlimit":
        _warn_unsafe()
    return current.backend


@functools.cache
def _warn_unsafe() -> None:
    logger.warning("SANDBOX_BACKEND=rlimit: Deep-mode commands run unconfined and can read this server's files")


@functools.cache
def _unshare_net() -> str | None:
    """The absolute path of `unshare` when `unshare -rn` works here: the rlimit backend's only isolation."""
    found = shutil.which("unshare")
    if found is None:
        return None
    found = os.path.abspath(found)
    probe = subprocess.run([found, "-rn", "true"], capture_output=True, timeout=10)
    return found if probe.returncode == 0 else None


def unshare_net_available() -> bool:
    return _unshare_net() is not None


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def max_files(disk_limit: int) -> int:
    """How many files the scratch area may hold for a disk limit (shared with the terminals' sandbox)."""
    # Empty files take no blocks but kernel memory: bound their number with the size (a page per file).
    return max(256, disk_limit // 4096)


def _python_dirs() -> list[str]:
    """Read-only paths a sandboxed command needs for the Python tools (pytest, ruff) of this install."""
    dirs = {sys.prefix, sys.base_prefix}
    return sorted(d for d in dirs if d and not d.startswith("/usr/") and d != "/usr")


def _search_path() -> str:
    return ":".join([f"{sys.prefix}/bin", "/usr/local/bin", "/usr/bin", "/bin"])


def child_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The command's whole environment: ours, then the project's variables (`extra`) over it, but HOME/PWD/TMPDIR."""
    env = {
        "PATH": _search_path(),
        "HOME": home,
        "PWD": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": home,
        "TMPDIR": "/tmp",
    }
    for name, value in (extra or {}).items():
        if name not in ("HOME", "PWD", "TMPDIR"):
            env[name] = value
    return env


# What name resolution and TLS need when the setup phase may use the network (read-only, if present).
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates")


def bwrap_argv(bwrap: str, privileged: bool, launcher_fd: int, config: dict) -> list[str]:
    """bubblewrap's command line for one sandboxed command (jobs and terminals build their sandbox with it)."""
    # No --clearenv/--setenv: bubblewrap is started with exactly the command's environment (see `_run_bwrap`), so
    # values (a setup phase's secrets) never appear in a process list.
    argv = [bwrap, "--die-with-parent", "--new-session"]
    argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    network = config.get("network", False)
    if not network:
        argv += ["--unshare-net"]
    if privileged:
        # No user namespace from bubblewrap: one mapping the command to kernel uid 0 would exempt it from
        # RLIMIT_NPROC. The launcher keeps these two capabilities only to switch to SANDBOX_UID/GID, first thing.
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / name
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), f"/{name}"]
        elif target.exists():
            argv += ["--ro-bind", str(target), f"/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    # One tmpfs for everything the command may write: /workspace and /tmp share its size.
    argv += ["--size", str(config["disk_limit"]), "--tmpfs", SCRATCH_MOUNT]
    argv += ["--perms", "1777", "--dir", f"{SCRATCH_MOUNT}/tmp", "--perms", "0777", "--dir", config["workspace"]]
    argv += ["--symlink", f"{SCRATCH_MOUNT}/tmp", "/tmp", "--symlink", config["workspace"], SANDBOX_MOUNT]
    for path in [*_python_dirs(), *(["/etc/alternatives"] if os.path.isdir("/etc/alternatives") else [])]:
        # Folders bubblewrap creates on the way are 0700 to their owner, root when it runs privileged.
        for parent in reversed(Path(path).parents[:-1]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", path, path]
    if network:
        for path in NETWORK_FILES:
            if os.path.exists(path):
                argv += ["--ro-bind", path, path]
    argv += ["--perms", "0444", "--ro-bind-data", str(launcher_fd), LAUNCHER_MOUNT]
    # The root of the sandbox (bubblewrap's own tmpfs, unbounded) and /dev must not take writes either.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/"]
    launcher_config = {k: v for k, v in config.items() if k != "network"}
    return argv + ["--", sys.executable, "-I", "-S", LAUNCHER_MOUNT, json.dumps(launcher_config)]


def limit_child(cpu_seconds: int, memory_bytes: int, processes: int) -> Callable[[], None]:
    """A preexec function setting the rlimits and the parent-death signal of a sandboxed process."""

    def apply() -> None:
        # Die with the worker: a SIGKILLed worker must not leave its command running.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_bytes > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if processes > 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))

    return apply


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_command(
    command: str,
    workdir: Path,
    *,
    time_limit: float | None = None,
    output_limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    backend: str | None = None,
    env: dict[str, str] | None = None,
    network: bool = False,
) -> CommandResult:
    """Run `command` (a /bin/sh command line) on the files of `workdir`, its working directory, with the project's
    variables `env`. Only a project's setup phase passes `network=True` (when its owner allows it).

    Raises SandboxUnavailable when no backend may run it."""
    time_limit = settings.SANDBOX_TIME_LIMIT if time_limit is None else time_limit
    output_limit = settings.SANDBOX_OUTPUT_LIMIT if output_limit is None else output_limit
    backend = backend or chosen_backend()
    workdir = Path(workdir).resolve()
    if backend == "bwrap":
        bwrap = bwrap_executable()
        if bwrap is None:
            raise SandboxUnavailable(f"No sandbox available: {ENABLE_HINT} {UNSAFE}.")
        return _run_bwrap(bwrap, command, workdir, time_limit, output_limit, should_stop, env, network)
    if backend == "rlimit":
        return _run_rlimit(command, workdir, time_limit, output_limit, should_stop, env, network)
    raise SandboxUnavailable(f"unknown sandbox backend {backend!r}")


def _run_rlimit(
    command: str,
    workdir: Path,
    time_limit: float,
    output_limit: int,
    should_stop: Callable[[], bool] | None,
    env: dict[str, str] | None = None,
    network: bool = False,
) -> CommandResult:
    unshare = None if network else _unshare_net()
    prefix = [unshare, "-rn"] if unshare else []
    started = time.monotonic()
    proc = subprocess.Popen(
        [*prefix, "/bin/sh", "-c", command],
        cwd=str(workdir),
        env=child_env(str(workdir), env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=limit_child(int(time_limit) + 1, settings.SANDBOX_MEMORY_LIMIT, settings.SANDBOX_PROCESS_LIMIT),
    )
    output, truncated, timed_out, cancelled = _supervise(proc, started, time_limit, output_limit, should_stop)
    return CommandResult(
        exit_code=None if (timed_out or cancelled) else proc.returncode,
        output=output,
        truncated=truncated,
        timed_out=timed_out,
        cancelled=cancelled,
        backend="rlimit",
        duration=time.monotonic() - started,
    )


def _run_bwrap(
    bwrap: str,
    command: str,
    workdir: Path,
    time_limit: float,
    output_limit: int,
    should_stop: Callable[[], bool] | None,
    env: dict[str, str] | None = None,
    network: bool = False,
) -> CommandResult:
    disk_limit = settings.SANDBOX_DISK_LIMIT
    config = {
        "command": command,
        "scratch": SCRATCH_MOUNT,
        "workspace": f"{SCRATCH_MOUNT}/workspace",
        "disk_limit": disk_limit,
        "max_files": max_files(disk_limit),
        "processes": settings.SANDBOX_PROCESS_LIMIT,
        "uid": settings.SANDBOX_UID,
        "gid": settings.SANDBOX_GID,
        "network": network,
    }
    status_read, status_write = os.pipe()
    launcher = os.open(LAUNCHER, os.O_RDONLY)
    config["status_fd"] = status_write
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            bwrap_argv(bwrap, os.geteuid() == 0, launcher, config),
            cwd="/",
            env=child_env(SANDBOX_MOUNT, env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(status_write, launcher),
            # No RLIMIT_NPROC here: on bubblewrap it would count every job's processes together (see launcher.py).
            preexec_fn=limit_child(int(time_limit) + 1, settings.SANDBOX_MEMORY_LIMIT, 0),
        )
    except BaseException:
        os.close(status_read)
        raise
    finally:
        os.close(status_write)
        os.close(launcher)
    files = _FilesBack(os.fdopen(status_read, "rb"), workdir.parent, disk_limit)
    files.start()
    feeder = threading.Thread(target=_feed, args=(proc.stdin, workdir), name="sandbox-files-in", daemon=True)
    feeder.start()
    try:
        output, truncated, timed_out, cancelled = _supervise(proc, started, time_limit, output_limit, should_stop)
        files.join(COLLECT_TIMEOUT)
        feeder.join(5)
        exit_code, limit = None, ""
        if not (timed_out or cancelled):
            report = files.report
            exit_code = report.get("exit_code") if report else proc.returncode
            exit_code = exit_code if isinstance(exit_code, int) else None
            limit = limit_message(report.get("limit") if report else "")
            if files.folder is not None:
                _replace_contents(workdir, files.folder)
            elif report and report.get("files") and not limit:
                output += "\n[the files the command wrote could not be read back]"
    finally:
        files.join(5)
        files.discard()
    return CommandResult(
        exit_code=exit_code,
        output=output,
        truncated=truncated,
        timed_out=timed_out,
        cancelled=cancelled,
        backend="bwrap",
        duration=time.monotonic() - started,
        limit_reached=limit,
    )


def limit_message(kind: object) -> str:
    """What a user is told when a sandboxed command reached a limit of `kind` (disk, processes, ...)."""
    if kind == "disk":
        return f"disk limit reached (SANDBOX_DISK_LIMIT = {_mib(settings.SANDBOX_DISK_LIMIT)})"
    if kind == "processes":
        return f"process limit reached (SANDBOX_PROCESS_LIMIT = {settings.SANDBOX_PROCESS_LIMIT})"
    return ""


def _feed(stdin: BinaryIO, workdir: Path) -> None:
    """The job's files, as a tar, to the launcher."""
    with contextlib.suppress(OSError, ValueError):
        with stdin:
            write_tar(stdin, str(workdir))


class _Capped:
    """A read-only stream that fails past `limit` bytes: what the sandbox sends back is not trusted."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.left = stream, limit

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(self.left + 1 if size < 0 else size)
        self.left -= len(data)
        if self.left < 0:
            raise tarfile.ReadError("the sandbox sent back more than its disk limit")
        return data


class _FilesBack(threading.Thread):
    """Reads the launcher's report and the files it sends back into a new folder next to the job's."""

    def __init__(self, stream: BinaryIO, parent: Path, disk_limit: int) -> None:
        super().__init__(name="sandbox-files-out", daemon=True)
        self.stream, self.parent = stream, parent
        self.max_files = max_files(disk_limit)
        self.limit = disk_limit + self.max_files * 1024 + 1024 * 1024  # tar headers and padding
        self.report: dict | None = None
        self.folder: Path | None = None
        self._unpacking: Path | None = None

    def run(self) -> None:
        with self.stream:
            try:
                line = self.stream.readline(STATUS_LINE_LIMIT)
                report = json.loads(line) if line.endswith(b"\n") else None
                if not isinstance(report, dict):
                    return
                self.report = report
                if report.get("files") is True:
                    self._unpacking = Path(tempfile.mkdtemp(prefix=".files-", dir=self.parent))
                    self._unpack(self._unpacking)
                    self.folder = self._unpacking
            except (ValueError, OSError, tarfile.TarError) as exc:
                logger.warning("the sandbox's files could not be read back: %s", exc)

    def _unpack(self, folder: Path) -> None:
        """Folders and regular files only, at relative paths without "..", owned by the worker, modes 0644/0755."""
        with tarfile.open(fileobj=_Capped(self.stream, self.limit), mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > self.max_files * 2:
                    raise tarfile.ReadError("the sandbox sent back more files than its limit")
                parts = Path(member.name).parts
                if not parts or member.name.startswith("/") or ".." in parts or not (member.isdir() or member.isfile()):
                    continue
                target = folder.joinpath(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                target.chmod(0o755 if member.mode & 0o100 else 0o644)

    def discard(self) -> None:
        if self._unpacking is not None and self._unpacking.exists():
            shutil.rmtree(self._unpacking, ignore_errors=True)


def _replace_contents(workdir: Path, new: Path) -> None:
    for child in list(workdir.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for child in list(new.iterdir()):
        child.rename(workdir / child.name)


def _supervise(
    proc: subprocess.Popen,
    started: float,
    time_limit: float,
    output_limit: int,
    should_stop: Callable[[], bool] | None,
) -> tuple[str, bool, bool, bool]:
    """Collect the output until the process ends, killing its group at the time limit or on cancellation.

    Returns (output, truncated, timed_out, cancelled)."""
    collected = bytearray()
    overflow = threading.Event()

    def read_output() -> None:
        while chunk := proc.stdout.read1(READ_CHUNK):
            room = output_limit - len(collected)
            if room > 0:
                collected.extend(chunk[:room])
            if len(chunk) > room:
                overflow.set()

    reader = threading.Thread(target=read_output, name="sandbox-output", daemon=True)
    reader.start()
    timed_out = cancelled = False
    try:
        while proc.poll() is None:
            if time.monotonic() - started > time_limit:
                timed_out = True
            elif should_stop is not None and should_stop():
                cancelled = True
            if timed_out or cancelled:
                _kill_group(proc)
                break
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        # E.g. Celery's soft time limit firing inside the wait: never leave the command running, and report the
        # job only once it is gone (bwrap's sandboxed processes follow it through --die-with-parent).
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        raise
    proc.wait()
    # Grandchildren that outlived the shell still hold the pipe open; they go with the group.
    _kill_group(proc)
    reader.join(timeout=5)
    proc.stdout.close()
    output = collected.decode("utf-8", "replace")
    if overflow.is_set():
        output += f"\n[output truncated at {output_limit} bytes]"
    return output, overflow.is_set(), timed_out, cancelled
