"""Run a shell command of a job inside its scratch directory, confined and bounded.

Two backends:
- "bwrap": bubblewrap. Only the scratch directory is writable (mounted at /workspace); /usr and the
  Python environment are read-only; no network, no other process, nothing else of the host visible.
- "rlimit": a plain subprocess when bubblewrap is missing. rlimits (CPU, memory, file size, processes),
  a scrubbed environment and, when `unshare -rn` works, no network. It does NOT hide the host
  filesystem: deployments that run untrusted jobs should install bubblewrap.

Both: a wall-clock limit, an output cap, cancellation (the whole process group is killed) and
death with the worker (PDEATHSIG), so a killed worker leaves no orphan command behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

SANDBOX_MOUNT = "/workspace"
PR_SET_PDEATHSIG = 1
FILE_SIZE_LIMIT = 64 * 1024 * 1024
READ_CHUNK = 4096


@dataclass
class CommandResult:
    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    cancelled: bool
    backend: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    def summary(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return f"timed out after {self.duration:.1f} s"
        return f"exit code {self.exit_code}"


@functools.cache
def bwrap_available() -> bool:
    """bubblewrap is installed and can create namespaces here (some containers forbid it)."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
        capture_output=True,
        timeout=10,
    )
    return probe.returncode == 0


@functools.cache
def unshare_net_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


def chosen_backend() -> str:
    wanted = settings.SANDBOX_BACKEND
    if wanted == "bwrap" and not bwrap_available():
        raise RuntimeError("SANDBOX_BACKEND=bwrap but bubblewrap is missing or cannot run here")
    if wanted in ("bwrap", "rlimit"):
        return wanted
    return "bwrap" if bwrap_available() else "rlimit"


def _python_dirs() -> list[str]:
    """Read-only paths a sandboxed command needs for the Python tools (pytest, ruff) of this install."""
    dirs = {sys.prefix, sys.base_prefix}
    return sorted(d for d in dirs if d and not d.startswith("/usr/") and d != "/usr")


def _search_path() -> str:
    return ":".join([f"{sys.prefix}/bin", "/usr/local/bin", "/usr/bin", "/bin"])


def _bwrap_argv(command: str, workdir: Path) -> list[str]:
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / name
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), f"/{name}"]
        elif target.exists():
            argv += ["--ro-bind", str(target), f"/{name}"]
    # The private /tmp comes before the Python binds: an install living under /tmp must stay visible.
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in _python_dirs():
        argv += ["--ro-bind", path, path]
    argv += ["--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]
    argv += ["--bind", str(workdir), SANDBOX_MOUNT, "--chdir", SANDBOX_MOUNT]
    for key, value in _child_env(SANDBOX_MOUNT).items():
        argv += ["--setenv", key, value]
    return argv + ["--", "/bin/sh", "-c", command]


def _child_env(home: str) -> dict[str, str]:
    return {
        "PATH": _search_path(),
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": home,
        "TMPDIR": "/tmp",
    }


def _limit_child(cpu_seconds: int, memory_bytes: int, processes: int) -> Callable[[], None]:
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
) -> CommandResult:
    """Run `command` (a /bin/sh command line) with `workdir` as its working directory and only writable place."""
    time_limit = settings.SANDBOX_TIME_LIMIT if time_limit is None else time_limit
    output_limit = settings.SANDBOX_OUTPUT_LIMIT if output_limit is None else output_limit
    backend = backend or chosen_backend()
    workdir = Path(workdir).resolve()
    if backend == "bwrap":
        argv, env, cwd = _bwrap_argv(command, workdir), {}, "/"
    else:
        prefix = ["unshare", "-rn"] if unshare_net_available() else []
        argv, env, cwd = [*prefix, "/bin/sh", "-c", command], _child_env(str(workdir)), str(workdir)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_limit_child(int(time_limit) + 1, settings.SANDBOX_MEMORY_LIMIT, settings.SANDBOX_PROCESS_LIMIT),
    )
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
    return CommandResult(
        exit_code=None if (timed_out or cancelled) else proc.returncode,
        output=output,
        truncated=overflow.is_set(),
        timed_out=timed_out,
        cancelled=cancelled,
        backend=backend,
        duration=time.monotonic() - started,
    )
