"""Helpers over pycrdt documents: the shared text lives in the Y.Text named `content`."""

from __future__ import annotations

from pycrdt import Doc, Text

TEXT_NAME = "content"


def new_doc() -> Doc:
    doc = Doc()
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
