"""Registry of JSON message types accepted on the workspace channel, each with the role it needs.

Feature apps register their handlers in their AppConfig.ready():

    @register("chat.send", min_role=Role.EDITOR)
    async def send_chat(ctx: HandlerContext, data: dict) -> dict | None: ...

A handler returns a dict to reply to the sender (sent as {"type": "<name>.ok", ...}) or None,
and raises HandlerError for a clear error reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


class HandlerError(Exception):
    """A refusal with a message for the user."""


@dataclass
class HandlerContext:
    user_id: int
    username: str
    workspace_id: int
    role: str
    channel_name: str
    consumer: Any


Handler = Callable[[HandlerContext, dict], Awaitable[dict | None]]


@dataclass(frozen=True)
class Registered:
    name: str
    min_role: str
    func: Handler


HANDLERS: dict[str, Registered] = {}


def register(name: str, *, min_role: str) -> Callable[[Handler], Handler]:
    def decorate(func: Handler) -> Handler:
        HANDLERS[name] = Registered(name, min_role, func)
        return func

    return decorate
