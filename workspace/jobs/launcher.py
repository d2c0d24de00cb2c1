"""The first process inside a job's bubblewrap sandbox: it sheds privileges, unpacks the job's files, runs the
command and enforces the process and disk limits.

Standard library only: it runs under the sandbox's Python (`python -I -S launcher.py CONFIG`), without Django or
the app. `workspace.jobs.sandbox` starts it; in order it

1. becomes the sandbox user. When bubblewrap ran privileged (the worker is root) it drops to SANDBOX_UID/GID and
   enters a user namespace of its own: the kernel exempts processes of kernel uid 0 from RLIMIT_NPROC, and counts
   processes per (user namespace, uid), so every command gets its own count. Unprivileged bubblewrap already
   made that namespace;
2. sets RLIMIT_NPROC and installs a seccomp filter refusing new user namespaces, which a command could otherwise
   use to gain the capabilities to mount an unbounded tmpfs;
3. unpacks the job's files (a tar on stdin) into the size-limited tmpfs, runs the command there (niced), watches
   the tmpfs and whether a fork is still allowed, kills everything when a limit is reached, and kills whatever the
   command left running (double-forked, setsid) before reading the files back;
4. writes one JSON line ({"exit_code", "limit", "files"}) and, when the command ended on its own, a tar of the
   files to the status fd.

The command runs as the same user and could tamper with all of this; the worker trusts none of it (sizes bounded,
paths filtered). The bounds themselves come from the kernel: the uid, the namespaces, the tmpfs size, the rlimit.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import select
import signal
import struct
import sys
import tarfile
import time

POLL_MS = 50
BUSY_POLL_MS = 2
COMMAND_NICENESS = 10
EXIT_LOOK_SECONDS = 0.2
KILL_WAIT_SECONDS = 3.0
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_NEWUSER = 0x10000000
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# seccomp: struct seccomp_data is {int nr; u32 arch; u64 instruction_pointer; u64 args[6]}.
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
# (audit arch, unshare, clone, clone3, first number of another ABI sharing the arch value or None)
SYSCALLS = {
    "x86_64": (0xC000003E, 272, 56, 435, 0x40000000),  # x32 numbers carry bit 30
    "aarch64": (0xC00000B7, 97, 220, 435, None),
}


class Assembler:
    """Classic BPF with labels: jumps name the instruction they go to."""

    def __init__(self) -> None:
        self.code: list[tuple[int, object, object, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: object = 0, jf: object = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = b""
        for index, (code, jt, jf, k) in enumerate(self.code):
            offsets = [self.labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
            out += struct.pack("HBBI", code, offsets[0], offsets[1], k)
        return out


def no_user_namespaces_filter() -> bytes:
    """unshare/clone with CLONE_NEWUSER fail with EPERM, clone3 with ENOSYS (libc then falls back to clone)."""
    machine = os.uname().machine
    if machine not in SYSCALLS:
        raise OSError(f"no seccomp filter for the {machine} architecture")
    arch, unshare, clone, clone3, foreign_abi = SYSCALLS[machine]
    bpf = Assembler()
    bpf.op(BPF_LD_W_ABS, 4)
    bpf.op(BPF_JEQ_K, arch, 0, "kill")
    bpf.op(BPF_LD_W_ABS, 0)
    if foreign_abi is not None:
        bpf.op(BPF_JGE_K, foreign_abi, "kill", 0)
    bpf.op(BPF_JEQ_K, unshare, "flags", 0)
    bpf.op(BPF_JEQ_K, clone, "flags", 0)
    bpf.op(BPF_JEQ_K, clone3, "enosys", "allow")
    bpf.label("flags")
    bpf.op(BPF_LD_W_ABS, 16)  # the low half of args[0] (little-endian): the flags of both calls
    bpf.op(BPF_JSET_K, CLONE_NEWUSER, "eperm", "allow")
    bpf.label("allow")
    bpf.op(BPF_RET_K, SECCOMP_RET_ALLOW)
    bpf.label("eperm")
    bpf.op(BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM)
    bpf.label("enosys")
    bpf.op(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    bpf.label("kill")
    bpf.op(BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
    return bpf.assemble()


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def install_seccomp() -> None:
    program = no_user_namespaces_filter()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    header = CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    _check(LIBC.capset(ctypes.byref(header), (CapData * 2)()), "capset")


def become_sandbox_user(uid: int, gid: int) -> None:
    """From uid 0 (privileged bubblewrap, capabilities CAP_SETUID/CAP_SETGID only) to uid/gid in a new user ns."""
    if uid == 0 or gid == 0:
        raise OSError("SANDBOX_UID and SANDBOX_GID must not be 0: root is exempt from the process limit")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # every capability is gone from here on
    # The uid change made us non-dumpable, which would leave /proc/self/uid_map owned by root.
    _check(LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    _check(LIBC.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    # A new user namespace comes with every capability in it; the command, which may ptrace this process, would
    # use them (e.g. a mount namespace of its own and an unbounded tmpfs).
    drop_capabilities()


def can_fork(spare: int = 0) -> bool:
    """False when RLIMIT_NPROC would refuse `spare` + 1 more tasks now: the count it keeps per (user namespace,
    uid), which this process is in too, is within `spare` of the limit."""
    held: list[int] = []
    release, hold = os.pipe()
    try:
        for _ in range(spare + 1):
            child = os.fork()
            if child == 0:
                os.close(hold)
                os.read(release, 1)  # until the parent lets go
                os._exit(0)
            held.append(child)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(hold)
        os.close(release)
        for child in held:
            os.waitpid(child, 0)


def newest_pid() -> str:
    """The last pid handed out in this pid namespace (/proc/loadavg speaks for the reader's namespace)."""
    with open("/proc/loadavg") as handle:
        return handle.read().rsplit(" ", 1)[-1]


def process_count() -> int:
    return sum(entry.isdigit() for entry in os.listdir("/proc"))


class ProcessWatch:
    """Tells when the command's processes and threads fill RLIMIT_NPROC.

    The kernel keeps no record of refused forks and /proc undercounts (tasks being created or reaped count too),
    so this probes with a fork of its own, every poll, and every few milliseconds while tasks are being created
    and many exist: a fork bomb whose refused processes die out may fill the limit only for moments."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.last_pid = newest_pid()
        self.busy = False

    def poll_ms(self) -> int:
        return BUSY_POLL_MS if self.busy else POLL_MS

    def full(self, spare: int = 0) -> bool:
        newest = newest_pid()
        self.busy = newest != self.last_pid and process_count() * 2 >= self.limit
        full = not can_fork(spare)
        self.last_pid = newest_pid()  # the probe took pids
        return full

    def full_after_exit(self, seconds: float, spare: int = 1) -> bool:
        """Whether what the command left behind filled the limit, with the slot of its ended first process (and,
        with a larger `spare`, the slot a probe of this watcher may have held when the command's fork failed)."""
        deadline = time.monotonic() + seconds
        while not self.full(spare=spare):
            if not self.busy or time.monotonic() > deadline:
                return False
            time.sleep(BUSY_POLL_MS / 1000)
        return True


def disk_full(scratch: str, max_files: int) -> bool:
    stats = os.statvfs(scratch)
    return stats.f_bavail == 0 or stats.f_files - stats.f_ffree > max_files


def kill_the_rest() -> None:
    """Kill every process of this user in the sandbox but this one (pid 1, bubblewrap's reaper, is spared)."""
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        time.sleep(0.01)


def exit_code_of(status: int) -> int:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def run(config: dict) -> dict:
    scratch, workspace, max_files = config["scratch"], config["workspace"], config["max_files"]
    try:
        with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
            # The worker wrote this tar (folders and files only); extraction filters exist from Python 3.11.4.
            tar.extractall(workspace, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return {"exit_code": None, "limit": "disk", "files": False}
        raise
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.chdir(workspace)
    pid = os.fork()
    if pid == 0:
        try:
            # Below the worker and this watcher: a command spinning up processes must not starve either.
            os.nice(COMMAND_NICENESS)
            os.execv("/bin/sh", ["/bin/sh", "-c", config["command"]])
        finally:
            os._exit(127)
    limit, status = "", None
    exited = select.poll()
    exited.register(os.pidfd_open(pid), select.POLLIN)
    processes = ProcessWatch(config["processes"])
    while not limit:
        if exited.poll(processes.poll_ms()):
            status = os.waitpid(pid, 0)[1]
            break
        if disk_full(scratch, max_files):
            limit = "disk"
        elif processes.full():
            limit = "processes"
    # What the command left running (double-forked, setsid) may be what fills a limit: look before killing it.
    # A command that failed may have failed because a probe of this watcher held the last slot for a moment.
    failed = status is not None and status != 0
    if not limit and processes.full_after_exit(EXIT_LOOK_SECONDS, spare=2 if failed else 1):
        limit = "processes"
    kill_the_rest()
    if not limit and disk_full(scratch, max_files):
        limit = "disk"  # the command stopped at "No space left on device" before a poll saw it
    if limit:
        return {"exit_code": None, "limit": limit, "files": False}
    return {"exit_code": exit_code_of(status), "limit": "", "files": True}


def write_tar(stream, root: str) -> None:
    """Folders and regular files under `root` (symlinks and special files stay behind)."""
    with tarfile.open(fileobj=stream, mode="w|") as tar:
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in dirs + sorted(names):
                path = os.path.join(folder, name)
                if not os.path.islink(path) and (os.path.isdir(path) or os.path.isfile(path)):
                    tar.add(path, os.path.relpath(path, root), recursive=False)


def main() -> int:
    config = json.loads(sys.argv[1])
    report = os.fdopen(config["status_fd"], "wb")
    os.set_inheritable(report.fileno(), False)
    if os.getuid() == 0:
        become_sandbox_user(config["uid"], config["gid"])
    resource.setrlimit(resource.RLIMIT_NPROC, (config["processes"], config["processes"]))
    install_seccomp()
    outcome = run(config)
    report.write(json.dumps(outcome).encode() + b"\n")
    if outcome["files"]:
        write_tar(report, config["workspace"])
    report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
