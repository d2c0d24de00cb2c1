"""This process's open rooms, and the checks that keep their clients' access current.

A room is loaded when its first local client arrives. When the last one leaves it stays warm for
COLLAB_ROOM_LINGER_SECONDS (someone reopening the file, or switching back to it, finds it loaded: no reload of a
large document), then it is dropped; a reset drops it at once.
Access: whenever any process announces a membership change (`ACCESS_TOPIC`, sent after the change committed), every
process re-reads the roles of all clients of all its rooms in one database call, closes removed members and stops
demoted editors' writes; the same check runs every COLLAB_ACCESS_RECHECK_SECONDS as a safety net (e.g. for an
announcement lost while Redis reconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from workspace.bus import RESUBSCRIBED, get_bus
from workspace.collab import store
from workspace.collab.access import current_roles_by_file
from workspace.collab.room import Room, RoomClient
from workspace.collab.ydoc import new_doc

logger = logging.getLogger(__name__)

ACCESS_TOPIC = "collab.access"
ACCESS_CHANGED = "collab.access_changed"

_rooms: dict[int, Room] = {}
_locks: dict[int, asyncio.Lock] = {}
_idle: dict[int, asyncio.TimerHandle] = {}  # rooms without local clients, until they are closed
_access_checks: asyncio.Task | None = None


async def acquire(file_id: int, client: RoomClient) -> Room:
    """Get the room for a file, loading it the first time, and add a local client to it."""
    lock = _locks.setdefault(file_id, asyncio.Lock())
    async with lock:
        room = _rooms.get(file_id)
        if room is None:
            client_id = await database_sync_to_async(store.next_server_client_id)()
            room = Room(file_id, new_doc(client_id), on_reset=forget)
            try:
                await room.open()
            except BaseException:
                await room.close()
                raise
            _rooms[file_id] = room
            _ensure_access_checks()
        idle = _idle.pop(file_id, None)
        if idle is not None:
            idle.cancel()
        room.clients[client.channel_name] = client
        return room


def release(room: Room, client: RoomClient) -> bool:
    """Drop a local client. True when it was the last one: the room then lingers and closes by itself."""
    room.clients.pop(client.channel_name, None)
    if room.clients or _rooms.get(room.file_id) is not room:
        return False
    loop = asyncio.get_running_loop()
    previous = _idle.pop(room.file_id, None)
    if previous is not None:
        previous.cancel()
    _idle[room.file_id] = loop.call_later(settings.COLLAB_ROOM_LINGER_SECONDS, _close_if_idle, room)
    return True


def _close_if_idle(room: Room) -> None:
    if room.clients or _rooms.get(room.file_id) is not room:
        return
    forget(room)
    asyncio.get_running_loop().create_task(room.close())


def forget(room: Room) -> None:
    """The room is no longer the file's room here (its last client left, or it was reset)."""
    if _rooms.get(room.file_id) is room:
        del _rooms[room.file_id]
        _locks.pop(room.file_id, None)
        idle = _idle.pop(room.file_id, None)
        if idle is not None:
            idle.cancel()


def get_loaded(file_id: int) -> Room | None:
    return _rooms.get(file_id)


def loaded_rooms() -> list[Room]:
    return list(_rooms.values())


def clear() -> None:
    """Forget every room without closing it (tests: each runs on an event loop of its own)."""
    _rooms.clear()
    _locks.clear()
    _idle.clear()


# Access ----------------------------------------------------------------------------------------------
def access_changed_message(workspace_id: int) -> dict:
    return {"type": ACCESS_CHANGED, "workspace_id": workspace_id}


def _ensure_access_checks() -> None:
    global _access_checks
    loop = asyncio.get_running_loop()
    if _access_checks is None or _access_checks.done() or _access_checks.get_loop() is not loop:
        _access_checks = loop.create_task(_check_access_while_rooms_are_open())


async def _check_access_while_rooms_are_open() -> None:
    """Ends when no room is left (the next room starts it again)."""
    bus = get_bus()
    changed = asyncio.Event()

    def on_message(message: dict) -> None:
        if message.get("type") in (ACCESS_CHANGED, RESUBSCRIBED):
            changed.set()

    await bus.subscribe(ACCESS_TOPIC, on_message)
    try:
        while _rooms:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), settings.COLLAB_ACCESS_RECHECK_SECONDS)
            changed.clear()
            await check_access_of_loaded_rooms()
    finally:
        with contextlib.suppress(Exception):
            await bus.unsubscribe(ACCESS_TOPIC, on_message)


async def check_access_of_loaded_rooms() -> None:
    clients_of = {room: list(room.clients.values()) for room in list(_rooms.values())}
    user_ids = {
        room.file_id: {client.user_id for client in clients if client.user_id is not None}
        for room, clients in clients_of.items()
    }
    try:
        roles = await database_sync_to_async(current_roles_by_file)(user_ids)
    except Exception:  # noqa: BLE001 - e.g. the database is restarting: check again next interval
        logger.warning("room access check failed", exc_info=True)
        return
    for room, clients in clients_of.items():
        room_roles = roles.get(room.file_id, {})
        for client in clients:
            if client.channel_name in room.clients:
                await client.apply_role(room_roles.get(client.user_id))
