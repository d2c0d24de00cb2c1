"""Sandboxed commands (bubblewrap, and the unsafe rlimit backend an operator may opt into) and the confinement of
the agent's tools. The limits and the isolation under attack are in tests/security/test_sandbox_limits.py."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from workspace.jobs import sandbox
from workspace.jobs.snapshot import SnapshotFile, materialise
from workspace.jobs.tools import ToolError, WorkspaceTools

pytestmark = pytest.mark.embedded

NO_BWRAP = pytest.mark.skipif(
    sandbox.bwrap_executable() is None, reason="bubblewrap not installed (make test installs it)"
)
BACKENDS = [pytest.param("bwrap", marks=NO_BWRAP), "rlimit"]
NET_PROBE = (
    "python -c \"import socket; socket.create_connection(('127.0.0.1', 6379), timeout=2); print('NETWORK REACHED')\""
)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    files = {
        "src/app.py": SnapshotFile(1, "src/app.py", "def add(a, b):\n    return a + b\n"),
        "tests/test_app.py": SnapshotFile(
            2, "tests/test_app.py", "from src.app import add\n\n\ndef test_add():\n    assert add(1, 2) == 4\n"
        ),
    }
    return materialise(files, tmp_path / "scratch")


@pytest.mark.parametrize("backend", BACKENDS)
def test_command_runs_in_the_scratch_copy_and_reports_a_failing_exit_code(scratch, backend):
    result = sandbox.run_command("python -m pytest -q -p no:cacheprovider", scratch, backend=backend)
    assert result.backend == backend
    assert result.exit_code == 1 and not result.ok
    assert "1 failed" in result.output
    assert "assert 3 == 4" in result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_command_can_write_only_its_scratch_copy(scratch, backend):
    result = sandbox.run_command("echo made > out.txt && cat out.txt", scratch, backend=backend)
    assert result.ok and result.output.strip() == "made"
    assert (scratch / "out.txt").read_text() == "made\n"


@pytest.fixture
def fresh_probe():
    sandbox.clear_probe_cache()
    yield
    sandbox.clear_probe_cache()


def test_without_bubblewrap_commands_are_refused_with_how_to_enable_a_sandbox(scratch, monkeypatch, fresh_probe):
    monkeypatch.setenv("PATH", str(scratch))  # no bwrap on it
    current = sandbox.status()
    assert current.backend is None and not current.confined
    assert current.message == (
        "No sandbox available: install bubblewrap (apt-get install bubblewrap) or set SANDBOX_BACKEND=rlimit "
        "to run commands unconfined (unsafe)."
    )
    for backend in (None, "bwrap"):
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            sandbox.run_command("echo ran > ran.txt", scratch, backend=backend)
    assert not (scratch / "ran.txt").exists()


def test_the_unconfined_backend_runs_only_when_the_operator_sets_it(scratch, settings, monkeypatch, fresh_probe):
    monkeypatch.setenv("PATH", str(scratch))
    settings.SANDBOX_BACKEND = "rlimit"
    current = sandbox.status()
    assert current.backend == "rlimit" and not current.confined and "unsafe" in current.message
    result = sandbox.run_command("echo ran", scratch)
    assert result.ok and result.backend == "rlimit"
    settings.SANDBOX_BACKEND = "auto"  # the old name of the default never falls back
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.run_command("echo ran", scratch)


def test_a_bwrap_that_cannot_run_here_is_reported_and_not_worked_around(scratch, tmp_path, monkeypatch, fresh_probe):
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    current = sandbox.status()
    assert current.backend is None
    assert current.message.startswith("No sandbox available: bubblewrap is installed but cannot run commands here")
    assert "SANDBOX_BACKEND=rlimit" in current.message and str(tmp_path) not in current.message
    assert "No permissions to create new namespace" in current.detail
    with pytest.raises(sandbox.SandboxUnavailable, match="cannot run commands here"):
        sandbox.run_command("echo ran > ran.txt", scratch)
    assert not (scratch / "ran.txt").exists()


@NO_BWRAP
def test_a_bwrap_found_outside_the_default_path_launches(scratch, tmp_path, monkeypatch, fresh_probe):
    elsewhere = tmp_path / "opt-bin"
    elsewhere.mkdir()
    (elsewhere / "bwrap").symlink_to(os.path.realpath(sandbox.bwrap_executable()))
    monkeypatch.setenv("PATH", str(elsewhere))
    assert sandbox.bwrap_executable() == str(elsewhere / "bwrap")
    current = sandbox.status()
    assert current.backend == "bwrap" and current.confined, current.detail
    result = sandbox.run_command("echo inside", scratch)
    assert result.ok and result.backend == "bwrap" and result.output == "inside\n"


@NO_BWRAP
def test_files_the_command_writes_come_back_and_links_out_do_not(scratch):
    command = "mkdir -p gen/deep && echo x > gen/deep/out.txt && printf '#!/bin/sh\\n' > run.sh && chmod +x run.sh"
    result = sandbox.run_command(f"{command} && ln -s /etc/hostname link && rm src/app.py", scratch)
    assert result.ok, result.output
    assert (scratch / "gen/deep/out.txt").read_text() == "x\n"
    assert os.access(scratch / "run.sh", os.X_OK)
    assert not (scratch / "src/app.py").exists()
    assert not (scratch / "link").exists() and not (scratch / "link").is_symlink()
    assert (scratch / "tests/test_app.py").is_file()
    # The next command sees what the previous one left.
    assert sandbox.run_command("cat gen/deep/out.txt", scratch).output == "x\n"


@NO_BWRAP
def test_bwrap_hides_the_host_filesystem_and_the_network(scratch):
    repo_file = Path(__file__).resolve()
    result = sandbox.run_command(f"cat {repo_file}; ls /root /home; echo hacked > /usr/x; {NET_PROBE}", scratch)
    assert "No such file or directory" in result.output
    assert "Read-only file system" in result.output
    assert "NETWORK REACHED" not in result.output
    assert not Path("/usr/x").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_command_has_no_network_when_namespaces_allow(scratch, backend):
    if backend == "rlimit" and not sandbox.unshare_net_available():
        pytest.skip("no `unshare -rn` here: the rlimit fallback cannot cut the network")
    result = sandbox.run_command(NET_PROBE, scratch, backend=backend)
    assert result.exit_code != 0
    assert "NETWORK REACHED" not in result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_command_is_killed_at_the_time_limit(scratch, backend):
    started = time.monotonic()
    result = sandbox.run_command("sleep 30", scratch, time_limit=1.0, backend=backend)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 5
    assert result.summary().startswith("timed out")


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_is_capped(scratch, backend):
    result = sandbox.run_command("yes sparkroom | head -c 200000", scratch, output_limit=1000, backend=backend)
    assert result.truncated
    assert result.output.startswith("sparkroom\n")
    assert len(result.output) < 1100 and result.output.endswith("[output truncated at 1000 bytes]")


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_kills_the_whole_process_group(scratch, backend):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    result = sandbox.run_command("sleep 30 & sleep 30; wait", scratch, should_stop=stop.is_set, backend=backend)
    assert result.cancelled and not result.ok
    assert time.monotonic() - started < 5


def test_rlimit_backend_caps_memory(scratch, settings):
    settings.SANDBOX_MEMORY_LIMIT = 256 * 1024 * 1024
    result = sandbox.run_command('python -c "b = bytearray(600 * 1024 * 1024)"', scratch, backend="rlimit")
    assert result.exit_code != 0
    assert "MemoryError" in result.output


def test_tools_refuse_paths_outside_the_workspace(scratch, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    tools = WorkspaceTools(scratch)
    for bad in ("../secret.txt", "/etc/passwd", "src/../../secret.txt", str(secret)):
        with pytest.raises(ToolError):
            tools.call("read_file", {"path": bad})
        with pytest.raises(ToolError):
            tools.call("write_file", {"path": bad, "content": "x"})
    # A symlink planted by a command must not become a way out either.
    (scratch / "link").symlink_to(tmp_path)
    with pytest.raises(ToolError, match="outside"):
        tools.call("read_file", {"path": "link/secret.txt"})
    with pytest.raises(ToolError, match="outside"):
        tools.call("write_file", {"path": "link/planted.txt", "content": "x"})
    assert not (tmp_path / "planted.txt").exists()
    assert secret.read_text() == "top secret"
    assert "link" not in tools.call("list_files", {})


def test_tools_list_read_search_and_write_inside_the_scratch_copy(scratch):
    tools = WorkspaceTools(scratch)
    assert tools.call("list_files", "{}").splitlines() == ["src/app.py", "tests/test_app.py"]
    assert "return a + b" in tools.call("read_file", '{"path": "src/app.py"}')
    hits = tools.call("search", {"pattern": r"def \w+"})
    assert hits == "src/app.py:1: def add(a, b):\ntests/test_app.py:4: def test_add():"
    tools.call("write_file", {"path": "src/new/mod.py", "content": "X = 1\n"})
    assert (scratch / "src/new/mod.py").read_text() == "X = 1\n"
    assert tools.written == ["src/new/mod.py"]
    with pytest.raises(ToolError, match="unknown tool"):
        tools.call("delete_everything", {})
    with pytest.raises(ToolError, match="not valid JSON"):
        tools.call("read_file", "{nope")
