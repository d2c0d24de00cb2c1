"""Server-side writers (Spark streams, Deep job apply) push updates into live rooms through here."""

from __future__ import annotations

from workspace.broadcast import group_send_sync
from workspace.collab import rooms, store
from workspace.collab.rooms import DELETED, ROOMS_LAYER, new_msg_id, room_group, rooms_layer
from workspace.collab.writer import writer


async def publish_update(
    file_id: int, update: bytes, origin: str = "server", origin_channel: str | None = None
) -> None:
    """Store an update made on the server, then fan it out to every client of the file.

    When the file's room is loaded in this process, the update goes through `Room.accept` like a client's
    (its clients get it straight away, saving a channel-layer round trip, and the room sends it on to the
    other processes). Otherwise it is stored and published to the file's group.
    `origin_channel`: the writer's own channel in the group (a Spark stream), which needs no copy.
    """
    room = rooms.get_loaded(file_id)
    if room is not None:
        try:
            await room.accept(update, origin, sender_channel=origin_channel)
            return
        except rooms.RoomClosed:
            pass  # reset meanwhile: stored below without a replica
    await writer.persist(file_id, update)
    await rooms_layer().group_send(
        room_group(file_id), {"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": new_msg_id()}
    )


async def publish_awareness(file_id: int, payload: bytes, origin: str = "server") -> None:
    """Fan out an awareness update (e.g. the AI peer's cursor); not persisted."""
    await rooms_layer().group_send(
        room_group(file_id), {"type": "ydoc.awareness", "payload": payload, "origin": origin, "msg_id": None}
    )


def announce_access_change(workspace_id: int) -> None:
    """A membership of the workspace changed: every process re-checks its document sockets now (sync code)."""
    group_send_sync(rooms.ACCESS_GROUP, rooms.access_changed_message(workspace_id), alias=ROOMS_LAYER)


def close_rooms_of_deleted_file(file_id: int) -> None:
    """Every process's room of a deleted file closes its clients (CLOSE_GONE) and goes (sync code)."""
    group_send_sync(room_group(file_id), {"type": DELETED, "msg_id": new_msg_id()}, alias=ROOMS_LAYER)


def publish_update_sync(file_id: int, update: bytes, origin: str = "server") -> None:
    """Sync variant for Celery workers and views: store, then fan out."""
    store.append_update(file_id, update)
    group_send_sync(
        room_group(file_id),
        {"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": new_msg_id()},
        alias=ROOMS_LAYER,
    )
