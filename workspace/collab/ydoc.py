"""Helpers over pycrdt documents: the shared text lives in the Y.Text named `content`."""

from __future__ import annotations

from pycrdt import Doc, Text, get_update, merge_updates

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


def compacted_update(updates: list[bytes]) -> tuple[Doc, bytes]:
    """The document of `updates` and one update holding all of them.

    Normally the document's own encoding (deleted content collected). If some structs could not be integrated
    because what they build on is missing (it may still arrive from a client), the document's encoding would
    leave them out: then the updates are merged as they are instead, so nothing stored is dropped.
    """
    doc = doc_from_updates(updates)
    parts = [update for update in updates if update]
    if parts:
        merged = merge_updates(*parts)
        # The part of the updates the document's state does not cover starts with its number of clients.
        if get_update(merged, doc.get_state())[0] != 0:
            return doc, merged
    return doc, doc.get_update()
