"""The terminals of one workspace in this process, the clients watching them, and Run.

Terminals live in the web process that serves the workspace's terminal socket (/ws/terminal/<workspace_id>); the
single-host proxy routes that path by the workspace id, like the workspace channel, so every member reaches the
same process. A terminal does not survive the restart of its process (its shell is gone); clients reconnect and
see the terminals that are left. Every client of a workspace sees every terminal of it: each output frame goes
to all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

from django.conf import settings

from workspace.terminals.session import Terminal, TerminalClient, control_frame

TYPING_EVERY_SECONDS = 0.5
PROMPT_WAIT_SECONDS = 10.0
RUN_TITLE = "Run"

_ids = itertools.count(1)
_hubs: dict[int, WorkspaceTerminals] = {}


class TerminalError(Exception):
    """A terminal request that cannot be done; the message is for the user."""


class WorkspaceTerminals:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.terminals: dict[int, Terminal] = {}
        self.clients: set[TerminalClient] = set()
        self._typing_shown: dict[tuple[int, str], float] = {}

    def broadcast(self, frame: bytes) -> None:
        for client in list(self.clients):
            client.push(frame)

    def attach(self, client: TerminalClient) -> None:
        """A client joins: the list of terminals, then each one's scrollback."""
        self.clients.add(client)
        listing = [terminal.describe() for terminal in self.terminals.values()]
        client.push(control_frame({"type": "terminals", "terminals": listing}))
        for terminal in self.terminals.values():
            for frame in terminal.replay_frames():
                client.push(frame)

    def detach(self, client: TerminalClient) -> None:
        self.clients.discard(client)
        if not self.clients and not self.terminals:
            _hubs.pop(self.workspace_id, None)

    def forget(self, terminal: Terminal) -> None:
        self.terminals.pop(terminal.id, None)
        self._typing_shown = {key: at for key, at in self._typing_shown.items() if key[0] != terminal.id}
        if not self.clients and not self.terminals:
            _hubs.pop(self.workspace_id, None)

    def get(self, terminal_id: object) -> Terminal:
        terminal = self.terminals.get(terminal_id) if isinstance(terminal_id, int) else None
        if terminal is None:
            raise TerminalError("no such terminal (it may have ended)")
        return terminal

    async def open(self, username: str, cols: int, rows: int, title: str = "") -> Terminal:
        """A new terminal, shown to every client (raises TerminalError, or TerminalUnavailable without a sandbox)."""
        if len(self.terminals) >= settings.TERMINAL_MAX_PER_WORKSPACE:
            raise TerminalError(
                f"this workspace has {settings.TERMINAL_MAX_PER_WORKSPACE} terminals (TERMINAL_MAX_PER_WORKSPACE): "
                "close one first"
            )
        terminal_id = next(_ids)
        terminal = Terminal(terminal_id, self.workspace_id, title or f"Terminal {terminal_id}", username, self)
        self.terminals[terminal_id] = terminal
        try:
            await terminal.start(cols, rows)
        except BaseException:
            await asyncio.shield(terminal.end("it could not start"))  # whatever of it started is stopped
            raise
        self.broadcast(control_frame({"type": "opened", "terminal": terminal.describe(), "by": username}))
        return terminal

    async def run(self, username: str, command: str, cols: int, rows: int) -> Terminal:
        """Type a Run command into the workspace's Run terminal (opened when there is none)."""
        terminal = next((t for t in self.terminals.values() if t.title == RUN_TITLE), None)
        if terminal is None:
            terminal = await self.open(username, cols, rows, RUN_TITLE)
            with contextlib.suppress(TimeoutError):  # typed before the prompt, the command would echo twice
                await asyncio.wait_for(terminal.prompted.wait(), PROMPT_WAIT_SECONDS)
        await terminal.send_input(username, command.encode() + b"\r")
        return terminal

    def typing(self, terminal: Terminal, username: str) -> None:
        """Tell everyone who is typing into which terminal (at most every TYPING_EVERY_SECONDS per user)."""
        key, now = (terminal.id, username), time.monotonic()
        if now - self._typing_shown.get(key, 0.0) < TYPING_EVERY_SECONDS:
            return
        self._typing_shown[key] = now
        self.broadcast(control_frame({"type": "typing", "terminal": terminal.id, "user": username}))


def hub_for(workspace_id: int) -> WorkspaceTerminals:
    hub = _hubs.get(workspace_id)
    if hub is None:
        hub = _hubs[workspace_id] = WorkspaceTerminals(workspace_id)
    return hub


def open_hubs() -> list[WorkspaceTerminals]:
    return list(_hubs.values())


async def end_all(reason: str) -> None:
    """End every terminal of this process (tests; a process shutting down)."""
    for hub in open_hubs():
        for terminal in list(hub.terminals.values()):
            await terminal.end(reason)
