"""Sandboxed commands (bubblewrap and the rlimit fallback) and the confinement of the agent's tools."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from workspace.jobs import sandbox
from workspace.jobs.snapshot import SnapshotFile, materialise
from workspace.jobs.tools import ToolError, WorkspaceTools

pytestmark = pytest.mark.embedded

BACKENDS = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap not usable here")),
    "rlimit",
]
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


def test_bwrap_hides_the_host_filesystem_and_the_network(scratch):
    if not sandbox.bwrap_available():
        pytest.skip("bubblewrap not usable here")
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
