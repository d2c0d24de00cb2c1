"""Server-side writers (Spark streams, Deep job apply) push updates into live rooms through here."""

from __future__ import annotations

from workspace.collab import protocol, rooms, store
from workspace.collab.rooms import ROOMS_LAYER, new_msg_id, room_group, rooms_layer
from workspace.collab.writer import writer
from workspace.realtime.broadcast import group_send_sync


async def publish_update(
    file_id: int, update: bytes, origin: str = "server", origin_channel: str | None = None
) -> None:
    """Persist an update made on the server, then fan it out to every client of the file.

    When the file's room is loaded in this process, its clients get the update straight away (as
    YjsConsumer does for its clients' updates, saving a channel-layer round trip) and the room sends it
    on to the other processes; its msg_id is marked seen, so the copy coming back is skipped.
    `origin_channel`: the writer's own channel in the group (a Spark stream), which needs no copy.
    """
    await writer.persist(file_id, update)
    msg_id = new_msg_id()
    room = rooms.get_loaded(file_id)
    if room is None:
        await rooms_layer().group_send(
            room_group(file_id), {"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": msg_id}
        )
        return
    room.apply(update, msg_id)
    room.deliver(protocol.sync_update(update))
    room.publish({"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": msg_id}, origin_channel)


async def publish_awareness(file_id: int, payload: bytes, origin: str = "server") -> None:
    """Fan out an awareness update (e.g. the AI peer's cursor); not persisted."""
    await rooms_layer().group_send(
        room_group(file_id), {"type": "ydoc.awareness", "payload": payload, "origin": origin, "msg_id": None}
    )


def publish_update_sync(file_id: int, update: bytes, origin: str = "server") -> None:
    """Sync variant for Celery workers and views: store, then fan out."""
    store.append_update(file_id, update)
    group_send_sync(
        room_group(file_id),
        {"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": new_msg_id()},
        alias=ROOMS_LAYER,
    )
