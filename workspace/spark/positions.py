"""Positions in the shared Y.Text: sticky indices on the server, Yjs RelativePosition JSON for browsers.

pycrdt indexes text by UTF-8 byte offsets while Monaco and Yjs in the browser count UTF-16 code
units, so offsets coming from a browser are converted here; relative positions need no conversion.
"""

from __future__ import annotations

import asyncio

from pycrdt import Assoc, StickyIndex, Text

from workspace.collab.ydoc import TEXT_NAME


def sticky_at(text: Text, index: int, assoc: Assoc) -> StickyIndex:
    """A sticky index at `index` (byte offset); also valid at the ends of the text, where pycrdt cannot anchor
    to a character and the position is relative to the text itself."""
    length = len(text)
    index = max(0, min(index, length))
    if (assoc == Assoc.AFTER and index >= length) or (assoc == Assoc.BEFORE and index <= 0):
        return StickyIndex.from_json({"tname": TEXT_NAME, "item": None, "assoc": int(assoc)}, text)
    return text.sticky_index(index, assoc)


def relative_position(sticky: StickyIndex) -> dict:
    """Y.RelativePosition JSON (as y-monaco puts in awareness `selection`) for a sticky index."""
    data = sticky.to_json()
    item = data.get("item")
    if item is None:
        return {"type": None, "tname": TEXT_NAME, "item": None, "assoc": data.get("assoc", 0)}
    return {"type": None, "tname": None, "item": item, "assoc": data.get("assoc", 0)}


def from_relative_position(text: Text, data: dict) -> StickyIndex:
    """Read a Y.RelativePosition JSON sent by a browser."""
    if not isinstance(data, dict) or not isinstance(data.get("assoc", 0), int):
        raise ValueError("not a relative position")
    item = data.get("item")
    if item is not None:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), int) for k in ("client", "clock")):
            raise ValueError("not a relative position")
        return StickyIndex.from_json(
            {"item": {"client": item["client"], "clock": item["clock"]}, "assoc": data.get("assoc", 0)}, text
        )
    return StickyIndex.from_json({"tname": TEXT_NAME, "item": None, "assoc": data.get("assoc", 0)}, text)


def resolve_index(sticky: StickyIndex) -> int:
    """The byte index of a sticky index; ValueError when pycrdt cannot place it (it panics on ids it mislays)."""
    try:
        return sticky.get_index()
    except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3's PanicException derives from BaseException
        raise ValueError("a position pycrdt cannot place") from exc


def utf16_to_byte(content: str, utf16_offset: int) -> int:
    """Byte offset (pycrdt) of a UTF-16 offset (Monaco / Yjs in the browser), clamped to the text."""
    units = 0
    for position, char in enumerate(content):
        if units >= utf16_offset:
            return len(content[:position].encode())
        units += 2 if ord(char) > 0xFFFF else 1
    return len(content.encode())


def byte_to_utf16(content: str, byte_offset: int) -> int:
    prefix = content.encode()[:byte_offset].decode("utf-8", errors="ignore")
    return len(prefix.encode("utf-16-le")) // 2


def byte_slice(content: str, start: int, end: int) -> str:
    return content.encode()[start:end].decode("utf-8", errors="ignore")


class TrackedIndex:
    """A byte index in a Y.Text, kept current from the text's change events.

    pycrdt's StickyIndex converts offsets inside a block as if every character were one byte, so after a multi-byte
    character it points elsewhere or panics (y-crdt/pycrdt#382); a session follows its own positions instead.
    `after`: a change inserted exactly at the index goes before it (the index moves right), like Assoc.AFTER;
    otherwise it stays where it is (Assoc.BEFORE: the inserted text comes after the index).
    """

    __slots__ = ("index", "after")

    def __init__(self, index: int, *, after: bool) -> None:
        self.index = index
        self.after = after

    def apply(self, delta: list[dict]) -> None:
        """Follow one transaction of someone else (a Y.Text event's delta, in UTF-8 bytes)."""
        position = 0
        for op in delta:
            if "retain" in op:
                position += op["retain"]
            elif "insert" in op:
                inserted = op["insert"]
                length = len(inserted.encode()) if isinstance(inserted, str) else 1
                if position < self.index or (position == self.index and self.after):
                    self.index += length
                position += length
            elif "delete" in op:
                if position < self.index:
                    self.index -= min(op["delete"], self.index - position)
            if position > self.index:
                return
