"""The terminal socket: /ws/terminal/<workspace_id>. Every terminal of the workspace, live, for every member.

Client -> server: text frames, JSON {"type": ..., ...}:
  open {cols, rows} | input {terminal, data} | resize {terminal, cols, rows} | close {terminal}
  | run {file_id, cols, rows} | stop {terminal}  (Ctrl+C into the terminal)
  | set_run_command {language, command}  (the workspace's own Run command; empty: the built-in one)
Every one needs the editor role (MESSAGE_ROLES); a viewer watches and gets an "error" frame (code "forbidden").
Server -> client: binary frames, in order through one bounded queue: b"O" + 4-byte terminal id + output bytes,
or b"J" + JSON: hello (with run_commands) and terminals (on connect), replay (the scrollback follows), opened,
size, typing, files, run_commands, ended, error.
Close codes: 4401 not logged in, 4403 not a member (or no longer), 4501 reading too slowly.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_TOO_SLOW, CLOSE_UNAUTHENTICATED
from workspace.collab.outbox import ClientOutbox
from workspace.consumer_base import DirectDispatchWebsocketConsumer
from workspace.edge.daphne_send import client_transport, send_without_delay
from workspace.projects import guard
from workspace.projects.models import Role
from workspace.realtime import inbound
from workspace.terminals import run
from workspace.terminals.hub import TerminalError, WorkspaceTerminals, hub_for
from workspace.terminals.session import control_frame
from workspace.terminals.shell import TerminalUnavailable

logger = logging.getLogger(__name__)

MESSAGE_ROLES = {
    "open": Role.EDITOR,
    "input": Role.EDITOR,
    "resize": Role.EDITOR,
    "close": Role.EDITOR,
    "run": Role.EDITOR,
    "stop": Role.EDITOR,
    "set_run_command": Role.EDITOR,
}
ROLE_RECHECK_SECONDS = 1.0
INTERRUPT = b"\x03"


def file_in_workspace(user, file_id: object, workspace_id: int) -> str:
    """The path of a file of this workspace the user may edit (guard.NotFound / Forbidden otherwise)."""
    if not isinstance(file_id, int):
        raise guard.NotFound(guard.FILE_NOT_FOUND)
    node = guard.require_file(user, file_id, Role.EDITOR)
    if node.workspace_id != workspace_id or node.is_folder:
        raise guard.NotFound(guard.FILE_NOT_FOUND)
    return node.path


class TerminalConsumer(DirectDispatchWebsocketConsumer):
    channel_layer_alias = "terminal-consumers-have-no-channel"  # the hub fans out in this process
    outbox: ClientOutbox | None = None
    hub: WorkspaceTerminals | None = None
    role_checks: asyncio.Task | None = None

    async def connect(self) -> None:
        self.workspace_id = int(self.scope["url_route"]["kwargs"]["workspace_id"])
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="log in first")
            return
        self.role = await database_sync_to_async(guard.role_of)(user, self.workspace_id)
        if self.role is None:
            await self.close(code=CLOSE_FORBIDDEN, reason="not a member of this workspace")
            return
        self.username = user.username
        send_without_delay(self.base_send)  # keystroke echoes are small frames: none may wait for an ACK
        self.outbox = ClientOutbox(
            client_transport(self.base_send), settings.TERMINAL_CLIENT_QUEUE_BYTES, self.too_slow
        )
        commands = await database_sync_to_async(run.run_commands)(self.workspace_id)
        self.push(control_frame({"type": "hello", "user": self.username, "role": self.role, "run_commands": commands}))
        self.hub = hub_for(self.workspace_id)
        self.hub.attach(self)
        self.role_checks = asyncio.get_running_loop().create_task(self._recheck_role())

    async def _recheck_role(self) -> None:
        """Re-read the role every ROLE_RECHECK_SECONDS, off the keystroke path (a keystroke never waits for the
        database): a demoted editor stops typing, a removed member is closed, within that time."""
        while self.hub is not None:
            await asyncio.sleep(ROLE_RECHECK_SECONDS)
            self.role = await database_sync_to_async(guard.role_of)(self.scope["user"], self.workspace_id)
            if self.role is None:
                self.error("you are no longer a member of this workspace")
                await self.close(code=CLOSE_FORBIDDEN, reason="no longer a member")
                return

    def push(self, frame: bytes) -> None:
        if self.outbox is not None:
            self.outbox.push(frame)

    def too_slow(self) -> None:
        if self.outbox is not None and not self.outbox.overflowed:
            self.outbox.close()
        logger.info("closing a terminal client of workspace %s that reads too slowly", self.workspace_id)
        asyncio.get_running_loop().create_task(self.close(code=CLOSE_TOO_SLOW, reason="too slow; reconnect"))

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._leave()

    async def disconnect(self, code: int) -> None:
        self._leave()

    def _leave(self) -> None:
        if self.role_checks is not None:
            self.role_checks.cancel()
        if self.outbox is not None:
            self.outbox.close()
        hub, self.hub = self.hub, None
        if hub is not None:
            hub.detach(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.hub is None:
            return
        try:
            message = inbound.parse_message(
                text_data if text_data is not None else (bytes_data or b""),
                max_bytes=settings.REALTIME_MAX_JSON_BYTES,
                max_depth=settings.REALTIME_MAX_JSON_DEPTH,
            )
        except inbound.MessageRefused as exc:
            self.error(str(exc))
            return
        kind = message["type"]
        minimum = MESSAGE_ROLES.get(kind)
        if minimum is None:
            self.error(f"unknown type {kind!r}")
            return
        refusal = guard.channel_refusal(kind, self.role, minimum)
        if refusal is not None:
            self.push(control_frame({"type": "error", **refusal}))
            if self.role is None:
                await self.close(code=CLOSE_FORBIDDEN, reason="no longer a member")
            return
        try:
            await getattr(self, f"on_{kind}")(message)
        except (TerminalError, TerminalUnavailable, guard.Refused, run.RunCommandError) as exc:
            self.error(str(exc))
        except (TypeError, ValueError) as exc:
            self.error(f"malformed {kind} message: {exc}")

    def error(self, text: str) -> None:
        self.push(control_frame({"type": "error", "message": text}))

    async def on_open(self, message: dict) -> None:
        await self.hub.open(self.username, int(message.get("cols", 80)), int(message.get("rows", 24)))

    async def on_input(self, message: dict) -> None:
        data = message.get("data")
        if not isinstance(data, str):
            raise ValueError("data must be a string")
        terminal = self.hub.get(message.get("terminal"))
        self.hub.typing(terminal, self.username)
        await terminal.send_input(self.username, data.encode("utf-8", "surrogatepass"))

    async def on_resize(self, message: dict) -> None:
        self.hub.get(message.get("terminal")).resize(int(message["cols"]), int(message["rows"]))

    async def on_close(self, message: dict) -> None:
        await self.hub.get(message.get("terminal")).end(f"closed by {self.username}")

    async def on_run(self, message: dict) -> None:
        user = self.scope["user"]
        path = await database_sync_to_async(file_in_workspace)(user, message.get("file_id"), self.workspace_id)
        command = await database_sync_to_async(run.command_for)(self.workspace_id, path)
        await self.hub.run(self.username, command, int(message.get("cols", 80)), int(message.get("rows", 24)))

    async def on_set_run_command(self, message: dict) -> None:
        commands = await database_sync_to_async(run.set_run_command)(
            self.workspace_id, message.get("language"), message.get("command"), self.scope["user"]
        )
        self.hub.broadcast(control_frame({"type": "run_commands", "commands": commands, "by": self.username}))

    async def on_stop(self, message: dict) -> None:
        terminal = self.hub.get(message.get("terminal"))
        self.hub.typing(terminal, self.username)
        await terminal.send_input(self.username, INTERRUPT)
