"""Start a terminal's interactive bash on a PTY, inside the same bubblewrap sandbox as Deep jobs.

The sandbox is built by `workspace.jobs.sandbox` (its bubblewrap command line and resource limits), with this
app's `launcher.py` as the first process inside; that launcher loads the jobs' launcher for the privilege drop,
the seccomp filter and the process and disk limits. The server keeps the PTY's master end and one end of a
control socket (the workspace's files in and out, the end of the shell and why). Terminals need bubblewrap: the
unsafe rlimit backend jobs may be allowed to use never runs an interactive shell.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import termios
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from workspace.jobs import sandbox

LAUNCHER = Path(__file__).with_name("launcher.py")
MIN_SIZE, MAX_COLS, MAX_ROWS = 2, 500, 200


class TerminalUnavailable(RuntimeError):
    """No terminal can start here; the message says why, for users (no server paths)."""


@dataclass
class ShellProcess:
    process: subprocess.Popen
    master: int  # the PTY's master end, non-blocking
    control: socket.socket  # the server's end of the control socket


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    return max(MIN_SIZE, min(MAX_COLS, int(cols))), max(MIN_SIZE, min(MAX_ROWS, int(rows)))


def set_size(master: int, cols: int, rows: int) -> None:
    """Resize the PTY; the kernel sends SIGWINCH to the shell's foreground process group."""
    cols, rows = clamp_size(cols, rows)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def start_shell(cols: int, rows: int) -> ShellProcess:
    """bubblewrap running the terminal launcher on a new PTY (blocking: fork and exec)."""
    try:
        backend = sandbox.chosen_backend()
    except sandbox.SandboxUnavailable as exc:
        raise TerminalUnavailable(str(exc)) from exc
    bwrap = sandbox.bwrap_executable()
    if backend != "bwrap" or bwrap is None:
        raise TerminalUnavailable(
            "Terminals need bubblewrap (apt-get install bubblewrap); SANDBOX_BACKEND=rlimit "
            "never runs an interactive shell."
        )
    master, slave = os.openpty()
    set_size(master, cols, rows)
    os.set_blocking(master, False)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    launcher = os.open(LAUNCHER, os.O_RDONLY)
    job_launcher = os.open(sandbox.LAUNCHER, os.O_RDONLY)
    disk_limit = settings.SANDBOX_DISK_LIMIT
    config = {
        "scratch": sandbox.SCRATCH_MOUNT,
        "workspace": f"{sandbox.SCRATCH_MOUNT}/workspace",
        "disk_limit": disk_limit,
        "max_files": sandbox.max_files(disk_limit),
        "processes": settings.SANDBOX_PROCESS_LIMIT,
        "uid": settings.SANDBOX_UID,
        "gid": settings.SANDBOX_GID,
        "control_fd": theirs.fileno(),
        "job_launcher_fd": job_launcher,
        "sync_seconds": settings.TERMINAL_SYNC_SECONDS,
    }
    try:
        process = subprocess.Popen(
            sandbox.bwrap_argv(bwrap, os.geteuid() == 0, launcher, config),
            cwd="/",
            env=sandbox.child_env(sandbox.SANDBOX_MOUNT),  # exactly the jobs' environment, nothing of ours
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            pass_fds=(theirs.fileno(), launcher, job_launcher),
            preexec_fn=sandbox.limit_child(settings.TERMINAL_CPU_SECONDS, settings.SANDBOX_MEMORY_LIMIT, 0),
        )
    except BaseException:
        os.close(master)
        ours.close()
        raise
    finally:
        os.close(slave)
        theirs.close()
        os.close(launcher)
        os.close(job_launcher)
    return ShellProcess(process, master, ours)


def stop_shell(shell: ShellProcess) -> None:
    """Kill the sandbox (its processes follow bubblewrap through --die-with-parent) and free the descriptors."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(shell.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        shell.process.wait(timeout=5)
    with contextlib.suppress(OSError):
        os.close(shell.master)
    shell.control.close()
