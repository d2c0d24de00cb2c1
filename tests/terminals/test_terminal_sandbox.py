"""A terminal's shell in the jobs' sandbox: what it cannot reach, the limits that stop it, idle end, bounded
scrollback and back-pressure (the service, without a socket)."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.conf import settings as django_settings

from tests.support.ywebsockets import wait_until
from workspace.collab.outbox import ClientOutbox
from workspace.jobs import sandbox
from workspace.terminals import hub

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.embedded,
    pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="bubblewrap not installed (make test installs it)"),
]


class Watcher:
    """A client of the hub that keeps every frame."""

    def __init__(self, outbox: ClientOutbox | None = None) -> None:
        self.outbox = outbox
        self.frames: list[bytes] = []
        self.closed_as_slow = False

    def push(self, frame: bytes) -> None:
        if self.outbox is not None:
            self.outbox.push(frame)
        self.frames.append(frame)

    def too_slow(self) -> None:
        self.closed_as_slow = True

    def output(self) -> bytes:
        return b"".join(frame[5:] for frame in self.frames if frame[:1] == b"O")

    def controls(self) -> list[dict]:
        return [json.loads(frame[1:]) for frame in self.frames if frame[:1] == b"J"]

    async def wait_output(self, needle: bytes, timeout: float = 15.0) -> bytes:
        await wait_until(lambda: needle in self.output(), timeout)
        return self.output()

    async def wait_ended(self, timeout: float = 30.0) -> str:
        await wait_until(lambda: any(m["type"] == "ended" for m in self.controls()), timeout)
        return next(m["reason"] for m in self.controls() if m["type"] == "ended")


@pytest.fixture
async def workspace_terminals(workspace_with_file):
    workspace, _ = workspace_with_file
    terminals = hub.hub_for(workspace.id)
    watcher = Watcher()
    terminals.attach(watcher)
    yield terminals, watcher
    await hub.end_all("test over")
    terminals.detach(watcher)


# Every marker a test waits for is typed split by '' (echo DO''NE prints DONE): the echo of the command line
# itself must not look like its output.


async def started(terminals, watcher) -> hub.Terminal:
    terminal = await terminals.open("alice", 80, 24)
    await watcher.wait_output(b"$ ")
    return terminal


async def test_the_shell_sees_neither_host_files_nor_the_app_source(workspace_terminals):
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    source = django_settings.BASE_DIR / "workspace" / "settings.py"
    await terminal.send_input("alice", f"cat /etc/shadow; cat {source}; ls /workspace; echo DO''NE\r".encode())
    output = (await watcher.wait_output(b"DONE\r\n")).decode()
    assert "/etc/shadow: No such file or directory" in output
    assert f"{source}: No such file or directory" in output
    assert "SECRET_KEY" not in output
    assert "src" in output.split("ls /workspace", 1)[1]


async def test_the_shell_has_no_network(workspace_terminals):
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    probe = (
        "python -c \"import socket; socket.create_connection(('127.0.0.1', 6379), timeout=2); print('REACHED')\""
        " || echo NO-''NETWORK\r"
    )
    await terminal.send_input("alice", probe.encode())
    output = await watcher.wait_output(b"NO-NETWORK\r\n")
    assert b"REACHED\r\n" not in output


async def test_a_fork_bomb_typed_in_is_stopped_and_reported(workspace_terminals, settings):
    settings.SANDBOX_PROCESS_LIMIT = 64
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    await terminal.send_input("alice", b"bomb() { bomb | bomb & }; bomb\r")
    reason = await watcher.wait_ended()
    assert reason == "process limit reached (SANDBOX_PROCESS_LIMIT = 64)"
    assert b"[terminal ended: process limit reached" in watcher.output()
    assert terminal.id not in terminals.terminals
    assert terminal.shell.process.poll() is not None


async def test_a_disk_filler_typed_in_is_stopped_and_reported(workspace_terminals, settings):
    settings.SANDBOX_DISK_LIMIT = 8 * 1024 * 1024
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    await terminal.send_input("alice", b"yes sparkroom > /workspace/fill\r")
    assert await watcher.wait_ended() == "disk limit reached (SANDBOX_DISK_LIMIT = 8 MiB)"
    assert terminal.shell.process.poll() is not None


async def test_an_idle_terminal_ends(workspace_terminals, settings):
    settings.TERMINAL_IDLE_SECONDS = 0.5
    terminals, watcher = workspace_terminals
    await started(terminals, watcher)
    assert await watcher.wait_ended(timeout=10) == "idle for 0.5 s"
    assert terminals.terminals == {}


async def test_the_scrollback_is_bounded_and_replayed_from_a_line_start(workspace_terminals, settings):
    settings.TERMINAL_SCROLLBACK_BYTES = 4096
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    await terminal.send_input("alice", b"seq 1 20000; echo EN''D\r")
    await watcher.wait_output(b"END\r\n")
    assert len(terminal.scrollback) <= 4096
    replay, output = terminal.replay_frames()
    assert json.loads(replay[1:]) == {"type": "replay", "terminal": terminal.id}
    lines = output[5:].split(b"\r\n")
    assert lines[0].isdigit() and int(lines[0]) > 19000  # a whole number: the cut is at a line start
    assert b"END" in output


async def test_the_shell_sees_the_size_it_was_resized_to(workspace_terminals):
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    terminal.resize(132, 41)
    await terminal.send_input("alice", b"stty size\r")
    await watcher.wait_output(b"41 132\r\n")
    assert {"type": "size", "terminal": terminal.id, "cols": 132, "rows": 41} in watcher.controls()


class StuckTransport:
    """A socket whose reader never reads: nothing is ever sent."""

    def try_send(self, frame: bytes) -> bool:
        return False

    async def send(self, frame: bytes) -> None:
        await asyncio.Event().wait()

    async def writable(self) -> None:
        await asyncio.Event().wait()


async def test_a_client_that_stops_reading_pauses_the_shell_then_is_closed_without_growing(
    workspace_terminals, settings
):
    settings.TERMINAL_CLIENT_QUEUE_BYTES = 256 * 1024
    settings.TERMINAL_STALL_SECONDS = 1.0
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    stuck = Watcher(ClientOutbox(StuckTransport(), settings.TERMINAL_CLIENT_QUEUE_BYTES, lambda: None))
    stuck.too_slow = lambda: setattr(stuck, "closed_as_slow", True) or terminals.detach(stuck)
    terminals.attach(stuck)
    await terminal.send_input("alice", b"yes | head -c 20000000; echo; echo END-OF''-YES\r")
    await wait_until(lambda: terminal.paused, 5)
    assert stuck.outbox.queued_bytes <= settings.TERMINAL_CLIENT_QUEUE_BYTES

    def bounded_until_closed() -> bool:
        assert stuck.outbox.queued_bytes <= settings.TERMINAL_CLIENT_QUEUE_BYTES
        return stuck.closed_as_slow

    await wait_until(bounded_until_closed, 10)
    await watcher.wait_output(b"END-OF-YES\r\n", timeout=60)  # the others get everything once it is gone


async def test_a_nested_shell_and_its_prompts_leave_the_terminals_shell_alive(workspace_terminals):
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    await terminal.send_input("alice", b"bash\r")
    await terminal.send_input("alice", b"echo inner > inner.txt; echo INNER-''DONE\r")
    await watcher.wait_output(b"INNER-DONE\r\n")
    await terminal.send_input("alice", b"exit\r")
    await terminal.send_input("alice", b"echo outer-''alive\r")
    await watcher.wait_output(b"outer-alive\r\n")
    assert not terminal.ended
    await wait_until(lambda: any(m["type"] == "files" and "inner.txt" in m["created"] for m in watcher.controls()))


async def test_output_is_passed_on_as_bytes_utf8_and_ansi_intact_across_reads(workspace_terminals):
    terminals, watcher = workspace_terminals
    terminal = await started(terminals, watcher)
    command = "python -c \"print('\\u2603' * 100000); print('\\x1b[31mred\\x1b[0m'); print('UTF8-' + 'DONE')\"\r"
    await terminal.send_input("alice", command.encode())
    output = await watcher.wait_output(b"UTF8-DONE\r\n")
    assert ("\u2603" * 100000).encode() in output and b"\x1b[31mred\x1b[0m\r\n" in output
    frames = [frame[5:] for frame in watcher.frames if frame[:1] == b"O"]
    # 300 kB of output arrives over many PTY reads; where the reads cut characters is up to the kernel, so what is
    # pinned is the joined result: no replacement characters, nothing dropped or doubled at the cuts.
    assert len(frames) > 1
    assert b"".join(frames).count("\u2603".encode()) >= 100000
    assert "\ufffd" not in output.decode("utf-8")
