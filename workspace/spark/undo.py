"""What Reject needs, kept on the request, so that any process can reject an AI edit, also after a restart.

An AI edit is the characters it inserted and the text it deleted. The inserted characters are named by their Yjs
ids: the room replica's client id and, per piece, the clock range the piece took (read from the replica's state
vector right before the insert; a piece of n UTF-16 code units takes n clocks). Rejecting is one edit of the shared
document: a delete set naming exactly those characters (so whatever others typed, around the region or inside it,
is not named and stays) and the replaced text inserted back where the AI's first character was. Nothing of this
lives in memory, so it works from any Daphne process and after a restart, like Yjs' own UndoManager would within
one process.

A refinement ("make it simpler") deletes its parent's characters the same way and carries the parent's record on:
Reject of the last request of a thread removes every AI character of the thread and restores the text from before
the first request, as one unit.

Positions: pycrdt resolves an id to an index correctly only at the start of a block (inside a block it adds the
offset in UTF-16 units to a byte index). Every id resolved here is resolved right after a delete set that starts
at it, which splits the block there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from pycrdt import Doc, StickyIndex, Text

from workspace.collab import registry
from workspace.collab.attribution import SERVER, Author
from workspace.collab.ydoc import TEXT_NAME

Range = list[int]  # [client, clock, length]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class EditRecord:
    # Every AI character of the thread (and text put back by a per-hunk Reject), deleted or not: Reject deletes them.
    items: list[Range] = field(default_factory=list)
    # This request's own insertions in text order: the k-th UTF-16 unit of its inserted text has the k-th clock.
    own: list[Range] = field(default_factory=list)
    # The text from before the thread's first request (what its first request replaced), put back by Reject.
    restore: str = ""
    # [client, clock] of the thread's first AI character: where `restore` goes back.
    at: list[int] | None = None

    def add(self, client: int, clock: int, length: int) -> None:
        """A piece was inserted with ids client:clock..clock+length-1."""
        if length <= 0:
            return
        for ranges in (self.items, self.own):
            last = ranges[-1] if ranges else None
            if last is not None and last[0] == client and last[1] + last[2] == clock:
                last[2] += length
            else:
                ranges.append([client, clock, length])
        if self.at is None:
            self.at = [client, clock]

    def add_restored(self, client: int, clock: int, length: int) -> None:
        """Text put back by a per-hunk Reject: a full Reject removes it again before restoring everything."""
        if length > 0:
            self.items.append([client, clock, length])

    def refinement(self) -> EditRecord:
        """The record a refinement of this edit starts from: same thread, nothing of its own yet."""
        return EditRecord([list(r) for r in self.items], [], self.restore, list(self.at) if self.at else None)

    def as_json(self) -> dict:
        return {"items": self.items, "own": self.own, "restore": self.restore, "at": self.at}

    @classmethod
    def from_json(cls, data: dict | None) -> EditRecord:
        data = data if isinstance(data, dict) else {}

        def ranges(key: str) -> list[Range]:
            return [
                [int(r[0]), int(r[1]), int(r[2])]
                for r in data.get(key) or []
                if isinstance(r, list | tuple) and len(r) == 3
            ]

        at = data.get("at")
        return cls(
            ranges("items"),
            ranges("own"),
            str(data.get("restore") or ""),
            [int(at[0]), int(at[1])] if isinstance(at, list | tuple) and len(at) == 2 else None,
        )

    def own_ids(self, start: int, end: int) -> list[Range]:
        """Id ranges of UTF-16 offsets [start, end) of this request's inserted text."""
        out: list[Range] = []
        offset = 0
        for client, clock, length in self.own:
            lo, hi = max(start, offset), min(end, offset + length)
            if lo < hi:
                out.append([client, clock + lo - offset, hi - lo])
            offset += length
        return out


# Yjs encodings --------------------------------------------------------------------------------------------------
def _varuint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varuint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def delete_set_update(ranges: list[Range]) -> bytes:
    """A Yjs update (v1) that carries no structs, only a delete set naming these characters."""
    by_client: dict[int, list[tuple[int, int]]] = {}
    for client, clock, length in ranges:
        if length > 0:
            by_client.setdefault(client, []).append((clock, length))
    out = bytearray(_varuint(0)) + _varuint(len(by_client))
    for client, spans in by_client.items():
        out += _varuint(client) + _varuint(len(spans))
        for clock, length in sorted(spans):
            out += _varuint(clock) + _varuint(length)
    return bytes(out)


def state_vector(doc: Doc) -> dict[int, int]:
    data = doc.get_state()
    count, pos = _read_varuint(data, 0)
    clocks: dict[int, int] = {}
    for _ in range(count):
        client, pos = _read_varuint(data, pos)
        clocks[client], pos = _read_varuint(data, pos)
    return clocks


def own_clock(doc: Doc) -> int:
    """The clock the replica's next insertion takes."""
    return state_vector(doc).get(doc.client_id, 0)


def position_of(doc: Doc, text: Text, client: int, clock: int) -> int | None:
    """Byte index of the character with this id (where it was, if deleted); None when the replica lacks it.
    Only exact at the start of a block (see the module docstring)."""
    if state_vector(doc).get(client, 0) <= clock:
        return None  # pycrdt panics on an id it does not have
    return StickyIndex.from_json({"item": {"client": client, "clock": clock}, "assoc": 0}, text).get_index()


def id_position(client: int, clock: int, assoc: int = 0) -> dict:
    """Y.RelativePosition JSON of a character, for browsers (Yjs resolves ids exactly)."""
    return {"type": None, "tname": None, "item": {"client": client, "clock": clock}, "assoc": assoc}


# Edits ------------------------------------------------------------------------------------------------------
def delete_and_put_back(doc: Doc, text: Text, delete: list[Range], put_back: str, at: list[int] | None) -> Range | None:
    """Delete these characters, then insert `put_back` where the character `at` is (or was). Call inside one
    transaction. Returns the id range the put-back text took (None if nothing was put back)."""
    if delete:
        doc.apply_update(delete_set_update(delete))
    if not put_back:
        return None
    index = position_of(doc, text, *at) if at else None
    if index is None:
        index = len(text)  # the anchor is unknown here (cannot happen for ids this replica wrote): append
    clock = own_clock(doc)
    text.insert(index, put_back)
    return [doc.client_id, clock, utf16_len(put_back)]


class _EditingClient:
    """A short-lived local client of a room, for one server-side edit (a Reject with no live session)."""

    def __init__(self, origin: str) -> None:
        self.channel_name = f"{origin}:edit:{uuid.uuid4().hex[:8]}"
        self.user_id = None

    def push(self, frame: bytes) -> None:
        """Reads the replica itself."""

    async def end(self, code: int, reason: str) -> None:
        """The edit in progress fails with RoomClosed."""

    async def apply_role(self, role: str | None) -> None:
        """Not bound to a user."""


async def edit_file(
    file_id: int, origin: str, change: Callable[[Doc, Text], object], growth: int = 0, *, author: Author = SERVER
) -> object:
    """Run `change(doc, text)` on this process's replica of the file (loaded for the occasion if needed) as one
    edit of `origin`, stored for `author`; returns once it is stored and fanned out. Raises RoomClosed,
    DocumentTooLarge."""
    client = _EditingClient(origin)
    room = await registry.acquire(file_id, client)
    result: list[object] = []
    try:
        doc = room.doc
        text = doc.get(TEXT_NAME, type=Text)

        def run() -> None:
            with doc.transaction(origin=origin):
                result.append(change(doc, text))

        stored = room.edit(origin, run, growth=growth, author=author)
        if stored is not None:
            await stored
    finally:
        if registry.release(room, client):
            await room.close()
    return result[0] if result else None


async def reject(file_id: int, origin: str, record: EditRecord, *, author: Author = SERVER) -> None:
    """Remove every AI character of the record's thread and put back what its first request replaced."""
    await edit_file(
        file_id,
        origin,
        lambda doc, text: delete_and_put_back(doc, text, record.items, record.restore, record.at),
        growth=len(record.restore.encode()),
        author=author,
    )
