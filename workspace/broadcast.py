"""Reaching browsers from anywhere: workspace events (`broadcast_to_workspace`, the workspace groups) and
channel-layer group messages sent from sync code (Celery tasks, views) in any deployment mode. At the bottom of
the layers: every app may use it, and it imports none.

With Redis, a fresh event loop per call is fine as long as the layer's connection pools are closed
inside that loop. With the embedded in-memory layer, queues belong to the web server's event loop,
so the message is handed to that loop instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None
# Celery worker processes run each send on a throwaway loop, whose Redis pools must be closed.
close_pools_after_send = False


def remember_server_loop() -> None:
    """Called from the ASGI app on its event loop so worker threads can reach in-memory queues."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def workspace_group(workspace_id: int) -> str:
    return f"workspace.{workspace_id}"


def group_send_sync(group: str, message: dict, alias: str = DEFAULT_CHANNEL_LAYER) -> None:
    layer = get_channel_layer(alias)
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        loop = _server_loop
        if loop is not None and loop.is_running() and not _on_loop_thread(loop):
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=10)
        else:
            async_to_sync(layer.group_send)(group, message)
        return

    async def send_and_close() -> None:
        try:
            await layer.group_send(group, message)
        finally:
            if close_pools_after_send:
                await _close_pools(layer)

    async_to_sync(send_and_close)()


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    return getattr(loop, "_thread_id", None) == threading.get_ident()


async def _close_pools(layer: object) -> None:
    close = getattr(layer, "close_pools", None)
    if close is not None:
        await close()


def broadcast_to_workspace(workspace_id: int, event: str, data: dict) -> None:
    """Push a JSON event to every browser open on the workspace: {"type": event, ...data}."""
    group_send_sync(workspace_group(workspace_id), {"type": "workspace.event", "event": event, "data": data})


async def abroadcast_to_workspace(workspace_id: int, event: str, data: dict) -> None:
    await get_channel_layer().group_send(
        workspace_group(workspace_id), {"type": "workspace.event", "event": event, "data": data}
    )
