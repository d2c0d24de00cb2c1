"""One shared terminal: its sandboxed shell, the scrollback, the output fanned out to every client with
back-pressure, input, resize, the files kept in step, and its end (the shell exited, a limit, idle, closed).

Runs on the event loop of the web process serving the workspace's terminal socket. Output is bytes from the PTY,
sent on as they are read (no decoding: a UTF-8 character or an ANSI sequence split over two reads stays split,
and xterm.js joins it). Back-pressure: a client whose queue passes half of TERMINAL_CLIENT_QUEUE_BYTES pauses
reading the PTY, so the program blocks on its writes like on a slow real terminal; reading resumes when every
client is below a quarter, and a client that holds it up longer than TERMINAL_STALL_SECONDS is closed (it
reconnects and gets the scrollback). Memory per terminal is thus bounded by the scrollback plus one queue per
client, however fast the program writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from workspace.collab.outbox import ClientOutbox
from workspace.jobs import sandbox
from workspace.terminals import sync
from workspace.terminals.shell import ShellProcess, clamp_size, set_size, start_shell, stop_shell

logger = logging.getLogger(__name__)

OUTPUT = b"O"  # + 4-byte terminal id + the PTY's bytes
CONTROL = b"J"  # + a JSON object
READ_BYTES = 65536
RESUME_CHECK_SECONDS = 0.002
EDITS_ACK_SECONDS = 2.0
CONTROL_LINE_LIMIT = 1024 * 1024
CONTROL_PAYLOAD_LIMIT = 40 * 1024 * 1024  # the launcher sends at most 32 MiB of files per message
REPLAY_ALIGN_BYTES = 4096  # a trimmed scrollback is replayed from a line start, to begin outside any sequence


def output_frame(terminal_id: int, data: bytes) -> bytes:
    return OUTPUT + terminal_id.to_bytes(4, "big") + data


def control_frame(payload: dict) -> bytes:
    return CONTROL + json.dumps(payload).encode()


class TerminalClient(Protocol):
    outbox: ClientOutbox | None

    def push(self, frame: bytes) -> None: ...

    def too_slow(self) -> None:
        """Close this client (it reads too slowly); it replays the scrollback when it reconnects."""


class Hub(Protocol):
    clients: set[TerminalClient]

    def broadcast(self, frame: bytes) -> None: ...

    def forget(self, terminal: Terminal) -> None: ...


def end_reason(message: dict) -> str:
    limit = message.get("limit")
    if limit:
        return sandbox.limit_message(limit) or f"{limit} limit reached"
    code = message.get("exit_code")
    return f"the shell exited (exit code {code})" if code is not None else "the shell ended"


class Terminal:
    def __init__(self, terminal_id: int, workspace_id: int, title: str, created_by: str, hub: Hub) -> None:
        self.id, self.workspace_id, self.title, self.created_by, self.hub = (
            terminal_id,
            workspace_id,
            title,
            created_by,
            hub,
        )
        self.cols, self.rows = 80, 24
        self.shell: ShellProcess | None = None
        self.scrollback = bytearray()
        self.trimmed = False
        self.known: dict[str, str] = {}  # path -> text the sandbox holds, as far as the server knows
        self.runner = created_by  # who pressed Enter last: the author of what the command writes
        self.last_activity = time.monotonic()
        self.ended = False
        self.prompted = asyncio.Event()  # set by the shell's first output (its prompt)
        self.paused = False
        self._paused_since = 0.0
        self._syncing = False
        self._pending_input: list[bytes] = []
        self._unwritten = bytearray()
        self._acks: dict[int, asyncio.Future] = {}
        self._seq = 0
        self._writer: asyncio.StreamWriter | None = None
        self._control_task: asyncio.Task | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title, "created_by": self.created_by, "cols": self.cols, "rows": self.rows}

    async def start(self, cols: int, rows: int) -> None:
        """Copy the workspace's live files in and start the shell (raises TerminalUnavailable)."""
        self.cols, self.rows = clamp_size(cols, rows)
        texts = await database_sync_to_async(sync.live_texts)(self.workspace_id)
        self.shell = await self._loop.run_in_executor(None, start_shell, self.cols, self.rows)
        reader, self._writer = await asyncio.open_unix_connection(sock=self.shell.control, limit=CONTROL_LINE_LIMIT)
        payload = sync.tar_of_texts(texts)
        self._writer.write(json.dumps({"op": "files", "bytes": len(payload)}).encode() + b"\n" + payload)
        self.known = dict(texts)
        self._loop.add_reader(self.shell.master, self._on_output)
        self._control_task = self._loop.create_task(self._read_control(reader))
        self._arm_idle(settings.TERMINAL_IDLE_SECONDS)

    # Output ---------------------------------------------------------------------------------------------------
    def _on_output(self) -> None:
        try:
            data = os.read(self.shell.master, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self.shell.master)
            return
        self.last_activity = time.monotonic()
        self.prompted.set()
        self._remember(data)
        frame = output_frame(self.id, data)
        high = settings.TERMINAL_CLIENT_QUEUE_BYTES // 2
        lagging = False
        for client in list(self.hub.clients):
            client.push(frame)
            lagging = lagging or (client.outbox is not None and client.outbox.queued_bytes > high)
        if lagging:
            self._pause()

    def _remember(self, data: bytes) -> None:
        self.scrollback += data
        excess = len(self.scrollback) - settings.TERMINAL_SCROLLBACK_BYTES
        if excess > 0:
            del self.scrollback[:excess]
            self.trimmed = True

    def replay_frames(self) -> list[bytes]:
        """What a client attaching now needs: a reset of its view, then the scrollback."""
        data = bytes(self.scrollback)
        if self.trimmed:
            line = data.find(b"\n", 0, REPLAY_ALIGN_BYTES)
            data = data[line + 1 :] if line >= 0 else data
        frames = [control_frame({"type": "replay", "terminal": self.id})]
        return frames + ([output_frame(self.id, data)] if data else [])

    def _pause(self) -> None:
        if self.paused or self.ended:
            return
        self.paused, self._paused_since = True, time.monotonic()
        self._loop.remove_reader(self.shell.master)
        self._loop.call_later(RESUME_CHECK_SECONDS, self._maybe_resume)

    def _maybe_resume(self) -> None:
        if self.ended:
            return
        low = settings.TERMINAL_CLIENT_QUEUE_BYTES // 4
        lagging = [c for c in self.hub.clients if c.outbox is not None and c.outbox.queued_bytes > low]
        if lagging and time.monotonic() - self._paused_since < settings.TERMINAL_STALL_SECONDS:
            self._loop.call_later(RESUME_CHECK_SECONDS, self._maybe_resume)
            return
        for client in lagging:
            client.too_slow()
        self.paused = False
        self._loop.add_reader(self.shell.master, self._on_output)

    # Input ----------------------------------------------------------------------------------------------------
    async def send_input(self, username: str, data: bytes) -> None:
        """Keystrokes of `username`. Enter first sends the editor's unsaved-to-sandbox edits in, so the command
        sees them; keys typed meanwhile wait behind it, in order."""
        if self.ended:
            return
        self.last_activity = time.monotonic()
        if self._syncing:
            self._pending_input.append(data)
            return
        if b"\r" not in data and b"\n" not in data:
            self._write(data)
            return
        self.runner = username
        self._syncing = True
        try:
            await self._send_edits()
        finally:
            self._syncing = False
            pending, self._pending_input = [data, *self._pending_input], []
            self._write(b"".join(pending))

    async def _send_edits(self) -> None:
        texts = await database_sync_to_async(sync.edits_to_send)(self.workspace_id, dict(self.known))
        if not texts or self._writer is None or self.ended:
            return
        self._seq += 1
        ack = self._acks[self._seq] = self._loop.create_future()
        payload = sync.tar_of_texts(texts)
        header = {"op": "write", "seq": self._seq, "bytes": len(payload)}
        self._writer.write(json.dumps(header).encode() + b"\n" + payload)
        try:
            await asyncio.wait_for(ack, EDITS_ACK_SECONDS)
        except TimeoutError:
            logger.warning("terminal %s: the sandbox did not confirm the editor's edits in time", self.id)
        finally:
            self._acks.pop(self._seq, None)
        self.known.update(texts)

    def _write(self, data: bytes) -> None:
        if self.ended or not data:
            return
        if self._unwritten:
            self._unwritten += data
            return
        try:
            written = os.write(self.shell.master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return
        if written < len(data):
            self._unwritten += data[written:]
            self._loop.add_writer(self.shell.master, self._flush_input)

    def _flush_input(self) -> None:
        try:
            written = os.write(self.shell.master, bytes(self._unwritten))
        except BlockingIOError:
            return
        except OSError:
            written = len(self._unwritten)
        del self._unwritten[:written]
        if not self._unwritten:
            self._loop.remove_writer(self.shell.master)

    def resize(self, cols: int, rows: int) -> None:
        if self.ended:
            return
        self.cols, self.rows = clamp_size(cols, rows)
        set_size(self.shell.master, self.cols, self.rows)
        self.hub.broadcast(control_frame({"type": "size", "terminal": self.id, "cols": self.cols, "rows": self.rows}))

    # Files and the end ----------------------------------------------------------------------------------------
    async def _read_control(self, reader: asyncio.StreamReader) -> None:
        reason = "the sandbox ended"
        try:
            while line := await reader.readline():
                message = json.loads(line)
                size = int(message.get("bytes", 0))
                if not 0 <= size <= CONTROL_PAYLOAD_LIMIT:
                    reason = "the sandbox sent more than a terminal may"
                    break
                payload = await reader.readexactly(size) if size else b""
                event = message.get("event")
                if event == "written":
                    ack = self._acks.get(message.get("seq"))
                    if ack is not None and not ack.done():
                        ack.set_result(None)
                elif event == "changed":
                    try:
                        await self._write_back(payload, message.get("deleted", []))
                    except Exception:  # noqa: BLE001 - e.g. the database restarting: the terminal goes on
                        logger.exception("terminal %s: the files it wrote could not be written back", self.id)
                elif event == "ended":
                    reason = end_reason(message)
                    break
        except (ValueError, TypeError, AttributeError, OSError, asyncio.IncompleteReadError) as exc:
            # What the sandbox sends is not trusted: anything malformed ends the terminal.
            reason = "the sandbox sent a malformed message"
            logger.warning("terminal %s: bad control message from the sandbox: %s", self.id, exc)
        await self.end(reason)

    async def _write_back(self, payload: bytes, removed: object) -> None:
        files, skipped = sync.read_changes(payload)
        deleted, refused = sync.read_deleted(removed)
        origin = f"terminal:{self.id}:{self.runner}"
        outcome = await database_sync_to_async(sync.write_back)(
            self.workspace_id, files, dict(self.known), origin, self.runner, deleted
        )
        self.known.update(outcome.texts)
        for path in deleted:
            self.known.pop(path, None)  # gone from the sandbox, whether or not the workspace kept it
        skipped += refused
        if outcome.written or outcome.created or outcome.deleted or skipped or outcome.skipped:
            self.hub.broadcast(
                control_frame(
                    {
                        "type": "files",
                        "terminal": self.id,
                        "by": self.runner,
                        "written": outcome.written,
                        "created": outcome.created,
                        "deleted": outcome.deleted,
                        "skipped": skipped + outcome.skipped,
                    }
                )
            )

    def _arm_idle(self, delay: float) -> None:
        self._idle_handle = self._loop.call_later(max(delay, 0.01), self._idle_check)

    def _idle_check(self) -> None:
        idle = settings.TERMINAL_IDLE_SECONDS
        quiet = time.monotonic() - self.last_activity
        if self.ended:
            return
        if quiet >= idle:
            self._loop.create_task(self.end(f"idle for {idle:g} s"))
        else:
            self._arm_idle(idle - quiet)

    async def end(self, reason: str) -> None:
        """Stop the shell and its sandbox, tell every client why; unsent output and files are dropped."""
        if self.ended:
            return
        self.ended = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        shell = self.shell
        if shell is not None:
            self._loop.remove_reader(shell.master)
            self._loop.remove_writer(shell.master)
        task = self._control_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        try:
            if shell is not None:
                # Shielded: a caller cancelled meanwhile (its socket closed) must not leave the terminal listed.
                await asyncio.shield(self._loop.run_in_executor(None, stop_shell, shell))
        finally:
            # Told once the sandbox is gone: nothing of it runs any more when a client reads "ended".
            notice = f"\r\n\x1b[2m[terminal ended: {reason}]\x1b[0m\r\n".encode()
            self._remember(notice)
            self.hub.broadcast(output_frame(self.id, notice))
            self.hub.broadcast(control_frame({"type": "ended", "terminal": self.id, "reason": reason}))
            self.hub.forget(self)
