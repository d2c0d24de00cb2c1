"""Per-process live state of open documents: the pycrdt Doc and awareness of each room.

Every Daphne process holds its own replica of each document that has local clients. Replicas stay
equal because every accepted update is persisted and then fanned out to all processes through the
channel layer; applying an update twice is a no-op for a CRDT, and `seen` skips the repeat work.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict

from channels.db import database_sync_to_async
from pycrdt import Doc, TransactionEvent

from workspace.collab import store
from workspace.collab.ydoc import doc_from_updates

SEEN_LIMIT = 4096


class Room:
    def __init__(self, file_id: int, doc: Doc) -> None:
        self.file_id = file_id
        self.doc = doc
        self.local_clients = 0
        # awareness client id -> (clock, JSON state)
        self.awareness: dict[int, tuple[int, str]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_change: bytes | None = None
        doc.observe(self._on_transaction)

    def _on_transaction(self, event: TransactionEvent) -> None:
        self._last_change = event.update

    def apply(self, update: bytes, msg_id: str | None = None) -> bool:
        """Apply an update; True when it changed the document. Raises ValueError if malformed."""
        if msg_id is not None:
            if msg_id in self._seen:
                return False
            self._seen[msg_id] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        self._last_change = None
        self.doc.apply_update(update)
        change, self._last_change = self._last_change, None
        return change is not None and change not in (b"", b"\x00\x00")

    def state_for(self, state_vector: bytes) -> bytes:
        return self.doc.get_update(state_vector) if state_vector else self.doc.get_update()

    def merge_awareness(self, entries: list[tuple[int, int, str]]) -> None:
        for client_id, clock, state in entries:
            known = self.awareness.get(client_id)
            if known is not None and known[0] > clock:
                continue
            if state == "null":
                self.awareness.pop(client_id, None)
            else:
                self.awareness[client_id] = (clock, state)

    def awareness_entries(self) -> list[tuple[int, int, str]]:
        return [(cid, clock, state) for cid, (clock, state) in self.awareness.items()]

    def awareness_users(self) -> list[dict]:
        users = []
        for state in self.awareness.values():
            try:
                users.append(json.loads(state[1]).get("user") or {})
            except (ValueError, AttributeError):
                continue
        return users


_rooms: dict[int, Room] = {}
_locks: dict[int, asyncio.Lock] = {}


async def acquire(file_id: int) -> Room:
    """Get the room for a file, loading it from the database the first time; counts a client."""
    lock = _locks.setdefault(file_id, asyncio.Lock())
    async with lock:
        room = _rooms.get(file_id)
        if room is None:
            parts, _ = await database_sync_to_async(store.load_updates)(file_id)
            room = Room(file_id, doc_from_updates(parts))
            _rooms[file_id] = room
        room.local_clients += 1
        return room


async def release(room: Room) -> bool:
    """Drop a client; forget the room when it was the last local one. True when forgotten."""
    room.local_clients -= 1
    if room.local_clients <= 0 and _rooms.get(room.file_id) is room:
        del _rooms[room.file_id]
        _locks.pop(room.file_id, None)
        return True
    return False


def get_loaded(file_id: int) -> Room | None:
    return _rooms.get(file_id)
