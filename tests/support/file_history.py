"""Writing a file's updates at chosen times, as given authors (for the version and timeline tests)."""

from __future__ import annotations

from datetime import datetime

from workspace.collab import store
from workspace.collab.attribution import Author
from workspace.collab.models import DocUpdate
from workspace.collab.ydoc import doc_from_updates, doc_text


def write(file_id: int, author: Author, change, at: datetime | None = None) -> int:
    """A replica of the stored document makes `change(text)`; the update is stored for `author` (created at `at`
    when given). Returns the update's id."""
    doc = doc_from_updates(store.load_updates(file_id)[0])
    text = doc_text(doc)
    before = doc.get_state()
    change(text)
    update_id = store.append_update(file_id, doc.get_update(before), author)
    if at is not None:
        DocUpdate.objects.filter(id=update_id).update(created_at=at)
    return update_id


def append(file_id: int, author: Author, words: str, at: datetime | None = None) -> int:
    """Append `words` at the end of the text."""
    return write(file_id, author, lambda text: text.insert(len(text), words), at)


def time_all(file_id: int, at: datetime) -> None:
    """Date every update of the file still in the log at `at`."""
    DocUpdate.objects.filter(file_id=file_id).update(created_at=at)
