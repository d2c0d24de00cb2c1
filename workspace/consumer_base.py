"""The WebSocket edge's hot path: consumer base class and auth stack without per-frame overhead.

Profiled with py-spy under bench/collab.py, three parts of Channels cost more per frame than our code:
- `AsyncConsumer.dispatch` (Channels >= 4.2) runs `close_old_connections()` through `sync_to_async`
  before every handler: a round trip to the one shared sync thread per frame, queued behind the
  database work on that thread (a fifth of the event loop's samples in a py-spy profile).
  Our consumers touch the ORM only through `database_sync_to_async`, which closes stale
  connections itself, in the thread that uses them.
- `await_many_dispatch` wraps each receive in a task and an `asyncio.wait`, even with one source.
- `SessionMiddleware` wraps `send` to save a modified session on accept, a check per sent frame.
  WebSocket consumers here never change the session, so `websocket_auth` reads it and passes
  `send` through untouched.
Also here: a send to a client that is already closing is dropped instead of ending the consumer.
"""

from __future__ import annotations

import logging
from importlib import import_module

from autobahn.exception import Disconnected
from channels.auth import AuthMiddleware
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.sessions import CookieMiddleware
from django.conf import settings

logger = logging.getLogger(__name__)


class DirectDispatchWebsocketConsumer(AsyncWebsocketConsumer):
    """An AsyncWebsocketConsumer whose handlers run straight from the receive loop."""

    async def __call__(self, scope, receive, send) -> None:
        if get_channel_layer(self.channel_layer_alias) is not None:
            await super().__call__(scope, receive, send)  # two sources (socket + layer): Channels' loop
            return
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """A send to a client that has just gone is dropped: Daphne raises Disconnected once the close handshake
        began, before it delivers `websocket.disconnect` (uvicorn, as the ASGI spec asks, an OSError). Raised
        inside a group-message handler, it ended the consumer before its `disconnect` could leave the groups and
        the presence list."""
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except (Disconnected, OSError):
            logger.debug("dropped a send to a closing WebSocket")

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class ReadOnlySessionMiddleware:
    """Puts the cookie's session (loaded lazily, in the database thread) into the scope."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send) -> None:
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        await self.inner({**scope, "session": self.session_store(session_key)}, receive, send)


def websocket_auth(inner):
    """Like Channels' AuthMiddlewareStack (scope["user"] from the session cookie), minus the send wrapper."""
    return CookieMiddleware(ReadOnlySessionMiddleware(AuthMiddleware(inner)))
