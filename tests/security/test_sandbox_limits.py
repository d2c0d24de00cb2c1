"""Hostile commands under the default sandbox (bubblewrap): what they can reach, and the process and disk limits.

Each attack is what a test file of a workspace could do in a `tests` job. The limits come from the kernel
(an unprivileged uid in a user namespace of its own under RLIMIT_NPROC, a size-limited tmpfs), so they hold
with the worker running as root, as on this machine, and as an ordinary user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from workspace.jobs import runner, sandbox
from workspace.jobs.models import Job
from workspace.jobs.snapshot import SnapshotFile, materialise

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="bubblewrap not installed (make test installs it)"),
]
MIB = 1024 * 1024
FEW_SECONDS = 10.0
SPAWNER = "while true; do sleep 60 & done"
# /bin/sh is dash, where `:` cannot be redefined: the classic bomb, under another name.
CLASSIC_FORK_BOMB = "bomb() { bomb | bomb & }; bomb"
PYTHON_FORK_BOMB = 'python -c "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"'


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    files = {"src/app.py": SnapshotFile(1, "src/app.py", "VALUE = 1\n")}
    return materialise(files, tmp_path / "scratch")


@pytest.fixture
def limits(settings):
    settings.SANDBOX_PROCESS_LIMIT = 64
    settings.SANDBOX_DISK_LIMIT = 32 * MIB
    return settings


def run(command: str, scratch: Path, time_limit: float = 60.0) -> sandbox.CommandResult:
    result = sandbox.run_command(command, scratch, time_limit=time_limit)
    assert result.backend == "bwrap", "the default backend must be bubblewrap"
    return result


def host_processes(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if "pgrep" not in line]


def test_the_default_sandbox_is_bubblewrap_and_reports_its_limits(limits):
    current = sandbox.status()
    assert current.backend == "bwrap" and current.confined, current.detail
    assert "64 processes" in current.message and "32 MiB" in current.message


def test_commands_run_as_an_unprivileged_user_that_cannot_create_user_namespaces(scratch):
    result = run("id -u; unshare -Ur id -u || echo REFUSED", scratch)
    uid, *rest = result.output.split()
    assert uid != "0"
    assert "REFUSED" in rest and "0" not in rest
    assert "Operation not permitted" in result.output


def test_no_process_in_the_sandbox_holds_a_capability(scratch):
    # The launcher included: the command runs as its user and could borrow them (ptrace).
    result = run("grep -h -E '^Cap(Prm|Eff)' /proc/[0-9]*/status | sort | uniq -c; unshare -m true || echo NO", scratch)
    held = {line.split()[-1] for line in result.output.splitlines() if "Cap" in line}
    assert held == {"0000000000000000"}, result.output
    assert result.output.strip().endswith("NO")


@pytest.mark.parametrize("bomb", [SPAWNER, PYTHON_FORK_BOMB, f"{CLASSIC_FORK_BOMB}; wait; sleep 60"])
def test_a_fork_bomb_is_stopped_and_reported(scratch, limits, bomb):
    started = time.monotonic()
    result = run(bomb, scratch)
    assert time.monotonic() - started < FEW_SECONDS
    assert not result.ok and result.exit_code is None and not result.timed_out
    assert result.limit_reached == "process limit reached (SANDBOX_PROCESS_LIMIT = 64)"
    assert result.summary() == result.limit_reached


def test_a_fork_bomb_left_running_by_its_command_is_gone_with_it(scratch, limits):
    # The bomb's processes die out where forks are refused, or with the command: a report is not promised then.
    started = time.monotonic()
    result = run(f"{CLASSIC_FORK_BOMB}; sleep 1; echo after", scratch)
    assert time.monotonic() - started < FEW_SECONDS
    assert "after" in result.output or result.limit_reached.startswith("process limit reached")
    assert host_processes("bomb") == []


def test_the_process_limit_counts_each_command_on_its_own(tmp_path, limits):
    # 2 x 40 processes at once: over 64 together, within it each.
    command = "for i in $(seq 40); do sleep 2 & done; wait; echo done"
    folders = [materialise({}, tmp_path / name) for name in ("one", "two")]
    results: list[sandbox.CommandResult] = []
    threads = [threading.Thread(target=lambda f=f: results.append(run(command, f))) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.summary() for r in results] == ["exit code 0", "exit code 0"]


@pytest.mark.parametrize(
    "filler",
    [
        "i=0; while true; do i=$((i+1)); head -c 1M /dev/zero > fill$i; done",
        "i=0; while true; do i=$((i+1)); head -c 1M /dev/zero > /tmp/fill$i; done",
        "python -c \"[open(f'f{i}', 'w').close() for i in range(10 ** 6)]\"",
        # Three files under the 64 MiB per-file cap, over the limit together.
        "for i in 1 2 3; do head -c 20M /dev/zero > big$i; done; sleep 60",
    ],
    ids=["workspace", "tmp", "empty-files", "three-files"],
)
def test_a_disk_filler_is_stopped_and_reported(scratch, limits, filler):
    started = time.monotonic()
    result = run(filler, scratch)
    assert time.monotonic() - started < FEW_SECONDS
    assert not result.ok and result.exit_code is None and not result.timed_out
    assert result.limit_reached == "disk limit reached (SANDBOX_DISK_LIMIT = 32 MiB)"
    # The job's copy is left as it was before the command: nothing of the filler comes back.
    assert sorted(p.name for p in scratch.rglob("*")) == ["app.py", "src"]


def test_a_workspace_larger_than_the_disk_limit_is_reported(scratch, limits):
    (scratch / "huge.txt").write_bytes(b"x" * 40 * MIB)
    result = run("echo never", scratch)
    assert result.limit_reached.startswith("disk limit reached") and "never" not in result.output


def test_only_the_scratch_area_takes_writes(scratch):
    result = run("touch /planted; touch /dev/planted; mkdir /usr/planted; echo ok > fine.txt", scratch)
    assert result.output.count("Read-only file system") == 3
    assert (scratch / "fine.txt").read_text() == "ok\n"
    assert not Path("/planted").exists() and not Path("/usr/planted").exists()


def test_host_secrets_the_app_and_its_database_are_not_visible(scratch, tmp_path):
    secret = tmp_path / "secret.txt"  # readable by the worker, next to the job's copy
    secret.write_text("HOST-SECRET")
    base = Path(django_settings.BASE_DIR)
    # The embedded mode's SQLite file (sessions, users) and the app's source.
    targets = [
        "/etc/shadow",
        "/etc/passwd",
        base / "db.sqlite3",
        base / "manage.py",
        base / "workspace",
        secret,
        "/home",
    ]
    result = run("; ".join(f"cat {t} 2>&1 | head -c 200; ls {t} 2>&1 | head -c 200" for t in targets), scratch)
    assert "root:" not in result.output and "HOST-SECRET" not in result.output
    for target in targets:
        assert f"{target}: No such file or directory" in result.output


def test_processes_outside_cannot_be_seen_or_signalled(scratch):
    result = run(f"kill -TERM {os.getpid()}; kill -0 {os.getppid()}; ls /proc | grep -c '^[0-9]'", scratch)
    assert result.output.count("No such process") == 2
    # bubblewrap's reaper, the launcher, the shell and `ls`/`grep`: nothing of the host.
    assert int(result.output.split()[-1]) <= 6


@pytest.mark.parametrize(
    "leaver",
    [
        "(setsid sleep 191.5 &);",
        "(sleep 191.5 &); nohup sleep 191.5 > /dev/null 2>&1 < /dev/null &",
        "setsid -f sleep 191.5;",
    ],
    ids=["setsid", "double-fork", "setsid-f"],
)
def test_no_process_outlives_the_command(scratch, leaver):
    result = run(f"{leaver} sleep 0.3; echo left", scratch)
    assert result.ok and result.output.strip().endswith("left")
    assert host_processes("sleep 191.5") == []


@pytest.mark.django_db(transaction=True)
def test_a_job_running_a_fork_bomb_or_a_disk_filler_fails_with_the_limit_it_reached(
    workspace_with_file, user, limits, tmp_path
):
    limits.SANDBOX_ROOT = tmp_path / "sandbox"
    workspace, _ = workspace_with_file
    job = Job.objects.create(workspace=workspace, user=user, kind="tests", command=PYTHON_FORK_BOMB)
    assert runner.run_job(job.id) == "failed"
    job.refresh_from_db()
    assert job.error.endswith("failed: process limit reached (SANDBOX_PROCESS_LIMIT = 64)")
    job = Job.objects.create(workspace=workspace, user=user, kind="tests", command="head -c 40M /dev/zero > f")
    assert runner.run_job(job.id) == "failed"
    job.refresh_from_db()
    assert job.error.endswith("failed: disk limit reached (SANDBOX_DISK_LIMIT = 32 MiB)")


@pytest.mark.django_db(transaction=True)
def test_a_job_without_a_sandbox_fails_with_how_to_enable_one(
    workspace_with_file, user, settings, monkeypatch, tmp_path
):
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    monkeypatch.setenv("PATH", str(tmp_path))
    sandbox.clear_probe_cache()
    try:
        workspace, _ = workspace_with_file
        for kind in ("tests", "agent"):
            job = Job.objects.create(workspace=workspace, user=user, kind=kind, command="true", prompt="go")
            assert runner.run_job(job.id) == "failed"
            job.refresh_from_db()
            assert job.error.startswith("No sandbox available: install bubblewrap (apt-get install bubblewrap)")
            assert "SANDBOX_BACKEND=rlimit" in job.error
    finally:
        sandbox.clear_probe_cache()


NON_ROOT_WORKER = """
import sys
from pathlib import Path
from django.conf import settings
settings.configure(SANDBOX_BACKEND="bwrap", SANDBOX_TIME_LIMIT=30.0, SANDBOX_OUTPUT_LIMIT=65536,
                   SANDBOX_MEMORY_LIMIT=1 << 30, SANDBOX_PROCESS_LIMIT=64, SANDBOX_DISK_LIMIT=32 << 20,
                   SANDBOX_UID=65534, SANDBOX_GID=65534)
from workspace.jobs import sandbox
folder = Path(sys.argv[1])
(folder / "in.txt").write_text("in")
for command in sys.argv[2:]:
    print(sandbox.run_command(command, folder).summary())
print((folder / "out.txt").read_text())
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_the_limits_also_hold_for_a_worker_that_is_not_root():
    """The CI-like case: an unprivileged worker, where bubblewrap makes the user namespace itself."""
    system_python = "/usr/bin/python3"
    version = f"import sys; print(sys.version_info[:2] == {tuple(sys.version_info[:2])})"
    same = os.path.exists(system_python) and subprocess.run([system_python, "-c", version], capture_output=True)
    if not same or same.stdout.strip() != b"True":
        pytest.skip("needs a system Python of the same version, readable by an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="sparkroom-worker-"))  # pytest's tmp_path is private to root
    os.chown(folder, 65534, 65534)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    path = f"{django_settings.BASE_DIR}:{site}"
    bomb = PYTHON_FORK_BOMB.replace("python -c", "python3 -c")  # no venv: the system's python3
    commands = ["cat in.txt > out.txt; id -u", bomb, "head -c 40M /dev/zero > f", "unshare -Ur true"]
    try:
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", system_python, "-c", NON_ROOT_WORKER]
            + [str(folder), *commands],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": path},
            cwd="/",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "exit code 0",
        "process limit reached (SANDBOX_PROCESS_LIMIT = 64)",
        "disk limit reached (SANDBOX_DISK_LIMIT = 32 MiB)",
        "exit code 1",
        "in",
    ]
