"""Which stored update inserted each character of a file: the CRDT's own record, replayed on the server.

Every stored update carries whom it was written for (collab.attribution). Replaying a file's updates in their
stored order on a server replica, Yrs reports each update's effect on the text as a positional delta (retain /
insert / delete, in UTF-8 bytes); the characters an update inserts are credited to that update's origin. So the
credit follows the Yjs items themselves (client id and clock ranges as integrated, concurrent edits included),
decided by who delivered them over an authenticated connection, never by what a client claims. An item a client
sends before what it builds on is credited to the update that completes it (Yrs integrates it only then).

Compaction deletes update rows, so before it does, `fold` replays the rows it folds onto the file's stored
credits (`DocAuthorship`: the snapshot's text as runs of [length, origin]) and stores the result beside the new
snapshot. `current` is the stored credits plus the rows still in the log. Origins are kept per author and
minute (the time shown is that minute's last update), which bounds what is stored.

`current` keeps the replica and credits of the last few files it replayed (per process): asked again, it applies
only the rows stored since, unless the log changed below what it had read (a compaction, or an update committed late
with a lower id: the rows it had read are counted again), which replays from the snapshot as before.

`credits_since(file_id, at)` is the same replay split at an instant (a commit): an author's characters from before and
after it are separate origins (exactly for rows still in the log; to the minute for folded ones), and every
deletion made after it that removed text older than it leaves a mark where it happened, which later edits move
along. A commit credits the changed lines' writers and deleters from it (repos.coauthors). Deletions folded away
by compaction leave no mark.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from itertools import groupby

from pycrdt import Doc, TextEvent

from workspace.collab.models import DocAuthorship, DocState, DocUpdate
from workspace.collab.ydoc import doc_from_updates, doc_text

# Text that was there before any update recorded its author (e.g. files compacted before authors were stored).
UNKNOWN_KIND = "unknown"
ORIGIN_BUCKET_SECONDS = 60
CACHED_FILES = 16  # replicas `current` keeps for the next ask (the files whose blame people are looking at)


@dataclass(frozen=True)
class Origin:
    """Whom some characters were inserted for, and when (epoch seconds of the last update in their minute)."""

    author_id: int | None
    kind: str
    model: str
    ref: str
    at: float

    def key(self) -> tuple:
        return (self.author_id, self.kind, self.model, self.ref, int(self.at // ORIGIN_BUCKET_SECONDS))


UNKNOWN = Origin(None, UNKNOWN_KIND, "", "", 0.0)


@dataclass
class Credits:
    """A text and, for each of its UTF-8 bytes, the index of its origin in `origins`."""

    text: str
    origins: list[Origin]
    per_byte: array
    # The stored runs, when no update changed them since (computing them walks every byte).
    stored_runs: list[tuple[int, int]] | None = None

    def runs(self) -> list[tuple[int, int]]:
        """(length in bytes, origin index) runs, adjacent equal origins merged."""
        if self.stored_runs is not None:
            return self.stored_runs
        return [(sum(1 for _ in same), origin) for origin, same in groupby(self.per_byte)]

    def origin_of_characters(self) -> list[Origin]:
        """The origin of every character of the text (what a test compares with who typed it)."""
        result, offset = [], 0
        for character in self.text:
            result.append(self.origins[self.per_byte[offset]])
            offset += len(character.encode("utf-8"))
        return result


@dataclass
class Since:
    """Credits split at an instant, and the deletions made after it of text older than it: (byte offset in the
    text where the deleted text was, origin index of the deleting update)."""

    credits: Credits
    at: float
    deletions: list[tuple[int, int]]

    def is_after(self, origin: int) -> bool:
        return self.credits.origins[origin].at > self.at


class _Replay:
    """Applies updates to a replica, crediting what each inserts to its origin (and, split at `since`, marking
    where later updates deleted older text)."""

    def __init__(self, doc: Doc, origins: list[Origin], per_byte: array, since: float | None = None) -> None:
        self.doc, self.origins, self.per_byte = doc, origins, per_byte
        self.since = since
        self.marks: list[list[int]] = []  # [offset, origin index] of deletions, when split at `since`
        self.index = {self._key(origin): number for number, origin in enumerate(origins)}
        self.current = 0
        # Both kept: pycrdt ends the subscription when they are collected.
        self.text = doc_text(doc)
        self.subscription = self.text.observe(self._on_change)

    def _key(self, origin: Origin) -> tuple:
        return origin.key() if self.since is None else (*origin.key(), origin.at > self.since)

    def apply(self, update: bytes, origin: Origin) -> None:
        number = self.index.get(self._key(origin))
        if number is None:
            number = self.index[self._key(origin)] = len(self.origins)
            self.origins.append(origin)
        elif self.origins[number].at < origin.at:
            self.origins[number] = origin
        self.current = number
        self.doc.apply_update(update)

    def _on_change(self, event: TextEvent) -> None:
        position = 0
        for op in event.delta:
            if "retain" in op:
                position += op["retain"]
            elif "insert" in op:
                inserted = op["insert"]
                size = len(inserted.encode("utf-8")) if isinstance(inserted, str) else 1
                self.per_byte[position:position] = array("l", [self.current]) * size
                self._shift_marks(position, size)
                position += size
            elif "delete" in op:
                size = op["delete"]
                if self.since is not None:
                    self._mark_deletion(position, size)
                del self.per_byte[position : position + size]

    def _shift_marks(self, position: int, inserted: int) -> None:
        for mark in self.marks:
            if mark[0] > position:
                mark[0] += inserted

    def _mark_deletion(self, position: int, size: int) -> None:
        for mark in self.marks:
            if mark[0] > position + size:
                mark[0] -= size
            elif mark[0] > position:
                mark[0] = position
        since = self.since
        if self.origins[self.current].at > since and any(
            self.origins[number].at <= since for number in self.per_byte[position : position + size]
        ):
            if [position, self.current] not in self.marks:
                self.marks.append([position, self.current])


def _stored(file_id: int, snapshot_text: str, snapshot_up_to: int) -> tuple[list[Origin], array, list | None]:
    """The stored credits of the snapshot's text (all UNKNOWN when there are none for this snapshot), per byte
    and as the stored runs."""
    row = DocAuthorship.objects.filter(file_id=file_id).values_list("up_to_update_id", "origins", "runs").first()
    size = len(snapshot_text.encode("utf-8"))
    if row is None or row[0] != snapshot_up_to or sum(row[2][0::2]) != size:
        return [UNKNOWN], array("l", [0]) * size, None
    origins = [Origin(*values) for values in row[1]]
    per_byte = array("l")
    runs = row[2]
    for start in range(0, len(runs), 2):
        per_byte.extend(array("l", [runs[start + 1]]) * runs[start])
    return origins, per_byte, list(zip(runs[0::2], runs[1::2], strict=True))


def _rows(file_id: int, after_id: int, up_to_id: int | None = None):
    rows = DocUpdate.objects.filter(file_id=file_id, id__gt=after_id)
    if up_to_id is not None:
        rows = rows.filter(id__lte=up_to_id)
    return rows.order_by("id").values_list(
        "id", "data", "author_id", "origin_kind", "origin_model", "origin_ref", "created_at"
    )


def _replay(
    file_id: int, snapshot: bytes, snapshot_up_to: int, up_to_id: int | None, since: float | None = None
) -> tuple[Credits, int, list[tuple[int, int]]]:
    doc = doc_from_updates([snapshot])
    origins, per_byte, runs = _stored(file_id, str(doc_text(doc)), snapshot_up_to)
    replay = _Replay(doc, origins, per_byte, since)
    last_id = snapshot_up_to
    for update_id, data, author_id, kind, model, ref, created_at in _rows(file_id, snapshot_up_to, up_to_id):
        replay.apply(bytes(data), Origin(author_id, kind, model, ref, created_at.timestamp()))
        last_id = update_id
    stored_runs = runs if last_id == snapshot_up_to and since is None else None
    credits = Credits(str(doc_text(doc)), replay.origins, replay.per_byte, stored_runs)
    return credits, last_id, [(offset, origin) for offset, origin in replay.marks]


def fold(file_id: int, previous_snapshot: bytes, previous_up_to: int, up_to_id: int) -> None:
    """Store the credits of the file's text as of update `up_to_id`, from those of the previous snapshot and the
    rows between. Called by compaction in its transaction, before it deletes those rows."""
    credits, _, _ = _replay(file_id, previous_snapshot, previous_up_to, up_to_id)
    _save(file_id, credits, up_to_id)


def _save(file_id: int, credits: Credits, up_to_id: int) -> None:
    runs = credits.runs()
    used = sorted({origin for _, origin in runs})
    renumber = {old: new for new, old in enumerate(used)}
    origins = [list(vars(credits.origins[old]).values()) for old in used]
    flat = [value for length, origin in runs for value in (length, renumber[origin])]
    DocAuthorship.objects.update_or_create(
        file_id=file_id, defaults={"up_to_update_id": up_to_id, "origins": origins, "runs": flat}
    )


@dataclass
class _Kept:
    """A file's replica and credits as `current` last left them: the snapshot's update id, the log rows replayed
    on it (how many, and the newest id), the stored runs (while no row was replayed)."""

    snapshot_up_to: int
    last_id: int
    rows: int
    replay: _Replay
    runs: list | None

    def credits(self) -> Credits:
        replay = self.replay
        runs = self.runs if self.rows == 0 else None
        return Credits(str(replay.text), list(replay.origins), array("l", replay.per_byte), runs)


_kept: OrderedDict[int, _Kept] = OrderedDict()
_kept_lock = threading.Lock()


def current(file_id: int) -> Credits:
    """The credits of the file's text as it is now: the stored ones and the updates still in the log."""
    with _kept_lock:
        kept = _kept.pop(file_id, None)
    while True:
        up_to = _folded_up_to(file_id)
        if kept is None or kept.snapshot_up_to != up_to or not _caught_up(file_id, kept):
            kept = _replay_from_snapshot(file_id)
        # A compaction meanwhile folded rows away: read again (see store.load_updates).
        if _folded_up_to(file_id) == kept.snapshot_up_to:
            break
        kept = None
    with _kept_lock:
        _kept[file_id] = kept
        while len(_kept) > CACHED_FILES:
            _kept.popitem(last=False)
    return kept.credits()


def forget_kept(file_id: int | None = None) -> None:
    """Drop the replica `current` kept for a file (all files: None): the next ask replays from the snapshot."""
    with _kept_lock:
        if file_id is None:
            _kept.clear()
        else:
            _kept.pop(file_id, None)


def _folded_up_to(file_id: int) -> int:
    return DocState.objects.filter(file_id=file_id).values_list("last_update_id", flat=True).first() or 0


def _caught_up(file_id: int, kept: _Kept) -> bool:
    """Apply the rows stored since `kept` was left; False (nothing applied) when rows it had read changed."""
    read = DocUpdate.objects.filter(file_id=file_id, id__gt=kept.snapshot_up_to, id__lte=kept.last_id).count()
    if read != kept.rows:
        return False
    for update_id, data, author_id, kind, model, ref, created_at in _rows(file_id, kept.last_id):
        kept.replay.apply(bytes(data), Origin(author_id, kind, model, ref, created_at.timestamp()))
        kept.last_id, kept.rows = update_id, kept.rows + 1
    return True


def _replay_from_snapshot(file_id: int) -> _Kept:
    row = DocState.objects.filter(file_id=file_id).values_list("snapshot", "last_update_id").first()
    snapshot, up_to = (bytes(row[0]), row[1]) if row else (b"", 0)
    doc = doc_from_updates([snapshot])
    origins, per_byte, runs = _stored(file_id, str(doc_text(doc)), up_to)
    kept = _Kept(up_to, up_to, 0, _Replay(doc, origins, per_byte), runs)
    _caught_up(file_id, kept)
    return kept


def credits_since(file_id: int, at: float | None) -> Since:
    """The credits of the file's text as it is now, split at epoch seconds `at` (None: nothing is older), and
    the deletions made after `at` of text older than it."""
    at = float("-inf") if at is None else at
    credits, deletions = _current(file_id, at)
    return Since(credits, at, deletions)


def _current(file_id: int, at: float | None) -> tuple[Credits, list[tuple[int, int]]]:
    while True:
        row = DocState.objects.filter(file_id=file_id).values_list("snapshot", "last_update_id").first()
        snapshot, up_to = (bytes(row[0]), row[1]) if row else (b"", 0)
        credits, _, deletions = _replay(file_id, snapshot, up_to, None, at)
        # A compaction between the two reads folded rows away: read again (see store.load_updates).
        now = DocState.objects.filter(file_id=file_id).values_list("last_update_id", flat=True).first() or 0
        if now == up_to:
            return credits, deletions
