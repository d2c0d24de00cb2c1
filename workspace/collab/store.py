"""Load, persist and compact the CRDT state of files in the database (sync ORM code).

A document is its snapshot (DocState.snapshot) followed by every DocUpdate with a larger id.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pycrdt import Doc

from workspace.collab import authorship, versions
from workspace.collab.attribution import SERVER, Author, record_folded_contributions
from workspace.collab.models import DocState, DocUpdate, ServerClientId
from workspace.collab.ydoc import compacted_update, doc_from_updates, doc_text

logger = logging.getLogger(__name__)


def load_updates(file_id: int) -> tuple[list[bytes], int]:
    """Snapshot and log of a file, in order, and the id of the newest update included.

    A compaction may fold and delete log rows between reading the snapshot and reading the log; then the snapshot
    read is stale and the log read misses the folded rows, so the load starts over (compaction is rare, and the
    second read sees its result)."""
    while True:
        snapshot, folded_up_to = _snapshot(file_id)
        parts = [snapshot] if snapshot else []
        last_id = folded_up_to
        for update_id, data in (
            DocUpdate.objects.filter(file_id=file_id, id__gt=folded_up_to).order_by("id").values_list("id", "data")
        ):
            parts.append(bytes(data))
            last_id = update_id
        now_folded = DocState.objects.filter(file_id=file_id).values_list("last_update_id", flat=True).first() or 0
        if now_folded == folded_up_to:
            return parts, last_id


def _snapshot(file_id: int) -> tuple[bytes, int]:
    # Not the plain-text cache: for a large file it doubles what is read.
    row = DocState.objects.filter(file_id=file_id).values_list("snapshot", "last_update_id").first()
    return (bytes(row[0]), row[1]) if row else (b"", 0)


def load_doc(file_id: int) -> Doc:
    parts, _ = load_updates(file_id)
    return doc_from_updates(parts)


def load_text(file_id: int) -> str:
    return str(doc_text(load_doc(file_id)))


def append_update(file_id: int, update: bytes, author: Author = SERVER) -> int:
    """Store one update written for `author`; returns its id. Callers fan out only after this returns."""
    author_id, kind, model, ref = author.row()
    return DocUpdate.objects.create(
        file_id=file_id, data=update, author_id=author_id, origin_kind=kind, origin_model=model, origin_ref=ref
    ).id


def append_first_updates(updates: list[tuple[int, bytes]], author: Author = SERVER) -> None:
    """Store many new files' first updates, each for `author`, in multi-row INSERTs (an import's batch of files:
    one statement per few hundred rows instead of one per file)."""
    author_id, kind, model, ref = author.row()
    DocUpdate.objects.bulk_create(
        [
            DocUpdate(
                file_id=file_id, data=update, author_id=author_id, origin_kind=kind, origin_model=model, origin_ref=ref
            )
            for file_id, update in updates
        ],
        batch_size=250,
    )


def pending_update_count(file_id: int) -> int:
    last_id = DocState.objects.filter(file_id=file_id).values_list("last_update_id", flat=True).first() or 0
    return DocUpdate.objects.filter(file_id=file_id, id__gt=last_id).count()


def compact(file_id: int) -> int:
    """Fold the update log into the snapshot. Safe to run concurrently and repeatedly.

    Returns how many log entries were folded.
    """
    with transaction.atomic():
        state, _ = DocState.objects.select_for_update().get_or_create(file_id=file_id)
        rows = list(
            DocUpdate.objects.filter(file_id=file_id, id__gt=state.last_update_id)
            .order_by("id")
            .values_list("id", "data")
        )
        if not rows:
            return 0
        doc, snapshot = compacted_update([bytes(state.snapshot or b""), *(bytes(data) for _, data in rows)])
        if snapshot is None:
            # Nothing rebuilds the same document (damaged updates): the log stays as it is, which loads correctly.
            logger.warning("file %s not compacted: no single update rebuilds its document", file_id)
            return 0
        previous_snapshot, previous_up_to = bytes(state.snapshot or b""), state.last_update_id
        previous_at = state.compacted_at or timezone.now()
        state.snapshot = snapshot
        state.last_update_id = rows[-1][0]
        # A plain-text cache for search; PostgreSQL text cannot hold NUL, which anyone can type.
        state.text = str(doc_text(doc)).replace("\x00", "\ufffd")
        state.save()
        record_folded_contributions(file_id, state.last_update_id)  # who wrote them outlives the rows
        authorship.fold(file_id, previous_snapshot, previous_up_to, state.last_update_id)  # and what each wrote
        # and the text at the end of each editing session (the timeline), thinned to the retention rule
        versions.record(file_id, previous_snapshot, previous_up_to, state.last_update_id, previous_at)
        versions.thin(file_id)
        DocUpdate.objects.filter(file_id=file_id, id__lte=state.last_update_id).delete()
    logger.info("compacted file %s: folded %d updates", file_id, len(rows))
    return len(rows)


def replace_text(file_id: int, content: str, author: Author = SERVER) -> bytes:
    """Replace the whole text of a file server-side as one CRDT update (stored for `author`); returns it."""
    doc = load_doc(file_id)
    text = doc_text(doc)
    before = doc.get_state()
    with doc.transaction():
        if len(text):
            del text[0 : len(text)]
        text.insert(0, content)
    update = doc.get_update(before)
    append_update(file_id, update, author)
    return update


def should_compact(file_id: int) -> bool:
    return pending_update_count(file_id) >= settings.COLLAB_COMPACT_EVERY


def next_server_client_id() -> int:
    """A Yjs client id for a new server-side replica (see ServerClientId); never handed out twice."""
    issued = ServerClientId.objects.create().id
    ServerClientId.objects.filter(id__lt=issued).delete()  # only the counter matters, not the rows
    return issued
