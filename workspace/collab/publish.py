"""Server-side writers of documents (Deep's apply, Celery tasks, views) and the announcements about documents
that other processes must hear (a deleted file, a changed membership).

A writer in a process where the file's room is open goes through `Room.accept`, like a browser's update; elsewhere
the update is stored, then published on the document's topic, where every process's room applies it.
"""

from __future__ import annotations

from workspace.bus import get_bus
from workspace.collab import registry, store
from workspace.collab.attribution import SERVER, Author
from workspace.collab.peers import DELETED, UPDATE, new_msg_id, room_topic
from workspace.collab.room import RoomClosed
from workspace.collab.writer import writer


def _update_message(update: bytes, origin: str) -> dict:
    return {"type": UPDATE, "payload": update, "origin": origin, "msg_id": new_msg_id()}


async def publish_update(file_id: int, update: bytes, origin: str = "server", author: Author = SERVER) -> None:
    """Store an update made on the server for `author`, then fan it out to every client of the file."""
    room = registry.get_loaded(file_id)
    if room is not None:
        try:
            await room.accept(update, origin, author=author)
            return
        except RoomClosed:
            pass  # reset meanwhile: stored below without a replica
    await writer.persist(file_id, update, author=author)
    await get_bus().publish(room_topic(file_id), _update_message(update, origin))


def publish_update_sync(file_id: int, update: bytes, origin: str = "server", author: Author = SERVER) -> None:
    """Sync variant (Celery workers, views): store, then publish to every process's room."""
    store.append_update(file_id, update, author)
    get_bus().publish_sync(room_topic(file_id), _update_message(update, origin))


def announce_access_change(workspace_id: int) -> None:
    """A membership of the workspace changed: every process re-checks its document sockets now (sync code)."""
    get_bus().publish_sync(registry.ACCESS_TOPIC, registry.access_changed_message(workspace_id))


def close_rooms_of_deleted_file(file_id: int) -> None:
    """Every process's room of a deleted file closes its clients (CLOSE_GONE) and goes (sync code)."""
    get_bus().publish_sync(room_topic(file_id), {"type": DELETED, "msg_id": new_msg_id()})
