"""Server-side writers (Spark streams, Deep job apply) push updates into live rooms through here."""

from __future__ import annotations

import uuid

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from workspace.collab import store
from workspace.collab.consumers import room_group
from workspace.collab.writer import writer
from workspace.realtime.broadcast import group_send_sync


async def publish_update(file_id: int, update: bytes, origin: str = "server") -> None:
    """Persist an update made on the server, then fan it out to every client of the file."""
    await writer.persist(file_id, update)
    await get_channel_layer().group_send(
        room_group(file_id),
        {"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": uuid.uuid4().hex},
    )


async def publish_awareness(file_id: int, payload: bytes, origin: str = "server") -> None:
    """Fan out an awareness update (e.g. the AI peer's cursor); not persisted."""
    await get_channel_layer().group_send(
        room_group(file_id), {"type": "ydoc.awareness", "payload": payload, "origin": origin, "msg_id": None}
    )


def publish_update_sync(file_id: int, update: bytes, origin: str = "server") -> None:
    """Sync variant for Celery workers and views: store, then fan out."""
    store.append_update(file_id, update)
    group_send_sync(
        room_group(file_id),
        {"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": uuid.uuid4().hex},
    )


load_doc_async = database_sync_to_async(store.load_doc)
