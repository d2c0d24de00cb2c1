"""The first process inside a terminal's bubblewrap sandbox: an interactive bash on the terminal's PTY, with the
workspace's files kept in step with the server while it runs.

Standard library only, like the jobs' launcher it builds on: it runs as `python -I -S launcher.py CONFIG` under
the sandbox's Python. The jobs' launcher (privilege drop, seccomp filter, the process and disk limits) is loaded
from a file descriptor the server passes in, so both sandboxes confine the same way. In order it

1. becomes the sandbox user, sets RLIMIT_NPROC and installs the seccomp filter (the jobs' launcher's functions);
2. reads the workspace's files (a tar) from the control socket into the size-limited tmpfs;
3. starts bash on its standard streams (the PTY's slave end) as a session leader with the PTY as its controlling
   terminal, and then, until bash ends or a limit is reached:
   - answers `write` messages (a tar of files the editor changed) by writing them before the next command;
   - after each command (bash's PROMPT_COMMAND signals it with SIGUSR1) and every `sync_seconds`, looks for files
     that changed in /workspace and sends them (a tar) to the server;
   - kills everything when the processes or the tmpfs reach their limit, and reports which.

Control messages are JSON lines, each optionally followed by `bytes` raw bytes (a tar). The shell runs as the
same user and could tamper with all of this; the server trusts none of it (sizes bounded, paths filtered).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import json
import os
import select
import signal
import socket
import sys
import tarfile
import time

SHELL = "/bin/bash"
MOUNT = "/workspace"  # a symlink to the tmpfs copy, as in jobs
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # files past this in one sync wait for the next (the server's bound: 40 MiB)


def load_job_launcher(fd: int):
    """The jobs' launcher module, from the descriptor the server opened on it."""
    sys.dont_write_bytecode = True
    path = f"/proc/self/fd/{fd}"
    loader = importlib.machinery.SourceFileLoader("sparkroom_job_launcher", path)
    spec = importlib.util.spec_from_loader("sparkroom_job_launcher", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    os.close(fd)
    return module


class Control:
    """The control socket: JSON lines, each optionally followed by a payload."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def read(self) -> tuple[dict, bytes] | None:
        line = self.file.readline(65536)
        if not line.endswith(b"\n"):
            return None
        message = json.loads(line)
        size = int(message.get("bytes", 0))
        payload = self.file.read(size) if size else b""
        return message, payload

    def send(self, message: dict, payload: bytes = b"") -> None:
        if payload:
            message = {**message, "bytes": len(payload)}
        self.sock.sendall(json.dumps(message).encode() + b"\n" + payload)


def scan(root: str) -> dict[str, tuple[int, int]]:
    """(size, mtime in ns) of every regular file under `root`, by relative path."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if os.path.isfile(path) and not os.path.islink(path):
                found[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return found


def tar_of(root: str, paths: list[str]) -> tuple[bytes, list[str]]:
    """A tar of the files (each up to MAX_FILE_BYTES), and the paths left for the next message."""
    buffer = io.BytesIO()
    left: list[str] = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for relative in paths:
            path = os.path.join(root, relative)
            try:
                size = os.path.getsize(path)
                if size > MAX_FILE_BYTES:
                    continue
                if buffer.tell() + size > MAX_MESSAGE_BYTES:
                    left.append(relative)
                    continue
                tar.add(path, relative, recursive=False)
            except OSError:
                continue
    return buffer.getvalue(), left


class Files:
    """What the server last knew of /workspace, and the changes since."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.known = scan(root)

    def write(self, payload: bytes) -> None:
        """Files the editor changed: written, and remembered as known (they are not sent back)."""
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r") as tar:
            names = [member.name for member in tar.getmembers() if member.isfile()]
            tar.extractall(self.root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        for name in names:
            info = os.lstat(os.path.join(self.root, name))
            self.known[os.path.normpath(name)] = (info.st_size, info.st_mtime_ns)

    def changes(self) -> tuple[list[str], list[str]]:
        now = scan(self.root)
        changed = sorted(path for path, seen in now.items() if self.known.get(path) != seen)
        deleted = sorted(set(self.known) - set(now))
        self.known = now
        return changed, deleted


def start_shell(niceness: int) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            import fcntl
            import termios

            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            os.nice(niceness)
            os.chdir(MOUNT)
            env = {
                **os.environ,
                "PWD": MOUNT,
                "TERM": "xterm-256color",
                "PS1": r"\[\e[34m\]$PWD\[\e[0m\] \$ ",
                # The launcher by its pid, not $PPID: a nested shell would signal (and kill) the outer one.
                "SPARKROOM_SYNC_PID": str(os.getppid()),
                "PROMPT_COMMAND": "kill -USR1 $SPARKROOM_SYNC_PID 2>/dev/null",
                "HISTFILE": "/tmp/.bash_history",
            }
            os.execve(SHELL, [SHELL, "--noprofile", "--norc", "-i"], env)
        finally:
            os._exit(127)
    return pid


def serve(config: dict, jobs, control: Control) -> dict:
    scratch, workspace = config["scratch"], config["workspace"]
    first = control.read()
    if first is None:
        return {"event": "ended", "limit": "", "exit_code": None}
    try:
        with tarfile.open(fileobj=io.BytesIO(first[1]), mode="r") as tar:
            tar.extractall(workspace, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    except OSError:
        return {"event": "ended", "limit": "disk", "exit_code": None}
    files = Files(workspace)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGUSR1, lambda *_: None)
    pid = start_shell(jobs.COMMAND_NICENESS)
    control.send({"event": "started"})
    exited = os.pidfd_open(pid)
    poll = select.poll()
    for fd in (exited, control.sock.fileno(), wake_read):
        poll.register(fd, select.POLLIN)
    processes = jobs.ProcessWatch(config["processes"])
    next_sync = time.monotonic() + config["sync_seconds"]
    limit, status, sync_now = "", None, False
    while True:
        for fd, _events in poll.poll(processes.poll_ms()):
            if fd == exited:
                status = os.waitpid(pid, 0)[1]
            elif fd == wake_read:
                os.read(wake_read, 4096)
                sync_now = True
            else:
                message = control.read()
                if message is None:
                    status = status if status is not None else -1
                elif message[0].get("op") == "write":
                    try:
                        files.write(message[1])
                        control.send({"event": "written", "seq": message[0].get("seq")})
                    except OSError:
                        limit = "disk"
        if status is not None:
            break
        if jobs.disk_full(scratch, config["max_files"]):
            limit = "disk"
        elif processes.full():
            limit = "processes"
        if limit:
            break
        if sync_now or time.monotonic() >= next_sync:
            send_changes(control, files)
            sync_now, next_sync = False, time.monotonic() + config["sync_seconds"]
    jobs.kill_the_rest()
    if not limit:
        send_changes(control, files)
    code = jobs.exit_code_of(status) if status is not None and status >= 0 else None
    return {"event": "ended", "limit": limit, "exit_code": None if limit else code}


def send_changes(control: Control, files: Files) -> None:
    changed, deleted = files.changes()
    if changed or deleted:
        payload, left = tar_of(files.root, changed)
        for path in left:
            files.known.pop(path, None)  # still changed for the next look
        control.send({"event": "changed", "deleted": deleted}, payload)


def main() -> int:
    config = json.loads(sys.argv[1])
    jobs = load_job_launcher(config["job_launcher_fd"])
    control = Control(socket.socket(fileno=config["control_fd"]))
    if os.getuid() == 0:
        jobs.become_sandbox_user(config["uid"], config["gid"])
    import resource

    resource.setrlimit(resource.RLIMIT_NPROC, (config["processes"], config["processes"]))
    jobs.install_seccomp()
    outcome = serve(config, jobs, control)
    try:
        control.send(outcome)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
