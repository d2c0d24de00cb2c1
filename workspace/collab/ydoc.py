"""Helpers over pycrdt documents: the shared text lives in the Y.Text named `content`."""

from __future__ import annotations

from pycrdt import Doc, Text, get_update, merge_updates

from workspace.collab.protocol import read_var_uint

TEXT_NAME = "content"


def new_doc(client_id: int | None = None) -> Doc:
    doc = Doc() if client_id is None else Doc(client_id=client_id)
    doc.get(TEXT_NAME, type=Text)
    return doc


def doc_text(doc: Doc) -> Text:
    return doc.get(TEXT_NAME, type=Text)


def doc_from_updates(updates: list[bytes]) -> Doc:
    doc = new_doc()
    for update in updates:
        if update:
            doc.apply_update(update)
    return doc


def is_empty_update(update: bytes) -> bool:
    """An update that carries no structs and no deletions (what Yjs encodes for 'nothing')."""
    return update in (b"", b"\x00\x00")


def compacted_update(updates: list[bytes]) -> tuple[Doc, bytes | None]:
    """The document of `updates`, and one update that rebuilds exactly that document (None if none does).

    Normally the document's own encoding (deleted content collected). But Yrs leaves out of it what it could not
    integrate (structs that build on something missing, which may still arrive from a client) and what a damaged
    update brought in behind a gap: then the updates merged as they are, if that rebuilds the document. The
    candidate is checked by rebuilding from it: the same text and state vector, or it is not used.
    """
    doc = doc_from_updates(updates)
    parts = [update for update in updates if update]
    text, state = str(doc_text(doc)), state_vector(doc)
    encoded = doc.get_update()
    candidates = [encoded]
    if parts and adds_unknown_structs(merge_updates(*parts), doc.get_state()):
        candidates.insert(0, merge_updates(*parts))
    elif parts:
        candidates.append(merge_updates(*parts))
    for candidate in candidates:
        rebuilt = doc_from_updates([candidate])
        if str(doc_text(rebuilt)) == text and state_vector(rebuilt) == state:
            return doc, candidate
    return doc, None


def adds_unknown_structs(update: bytes, state_vector: bytes) -> bool:
    """True when `update` holds structs a document with `state_vector` does not count as known: e.g. ones Yrs keeps
    aside (pending) because what they build on is missing, or behind a gap in their client's clocks."""
    # The part of the update that state vector does not cover starts with its number of clients.
    return get_update(update, state_vector)[0] != 0


def state_vector(doc: Doc) -> dict[int, int]:
    """The document's state vector as client id -> clock (its encoding's order of clients is arbitrary)."""
    encoded = doc.get_state()
    count, pos = read_var_uint(encoded, 0)
    clocks = {}
    for _ in range(count):
        client, pos = read_var_uint(encoded, pos)
        clocks[client], pos = read_var_uint(encoded, pos)
    return clocks
