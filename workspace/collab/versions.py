"""A file's versions: the text at the end of each editing session, kept when compaction folds the update log.

**Sessions.** A file's stored updates, in order, fall into editing sessions. An update continues the current
session unless
- more than `HISTORY_SESSION_GAP_SECONDS` passed since the session's last update (a pause ends it), or
- it is the first update of a server-side writer not yet in the session: a Spark request, a Deep job's apply, a
  git operation, a restore (any origin whose kind is not "human", or that carries a ref). So the text just
  before a model or a restore wrote is always a version to go back to. People typing together (whatever their
  number) share a session;
- in a session such a writer opened, it is someone else's update more than `WRITER_PAUSE_SECONDS` after the
  session's last update: typing beside a Spark stream joins the stream's session, typing after it (or after a
  Deep apply, a pull, a restore, the file's creation) starts the next one.

**Versions.** A version is the document's text as of a session's last update; that update's id is the version's
id (unique per file, and the same before and after compaction). `compact` calls `record` in its transaction,
before it deletes the rows it folds: the previous snapshot plus the rows, replayed in order, give the text at each
session's end, stored zlib-compressed (`DocVersion`) with the session's time range and participants. A session
still open at compaction time is stored too, and the next compaction continues that row when the next rows
belong to the same session. `log_sessions` computes the versions still in the uncompacted log the same way, so
nothing waits for compaction.

**Retention** (`thin`, run by compaction; idempotent): every version younger than `HISTORY_KEEP_ALL_DAYS`; then
the last version of each hour (UTC) until `HISTORY_KEEP_HOURLY_DAYS`, then the last of each day. A kept version
takes over the participants and start of those it replaces, so it stands for that hour's or day's editing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher

from django.conf import settings
from django.utils import timezone

from workspace.collab.attribution import HUMAN
from workspace.collab.models import DocState, DocUpdate, DocVersion
from workspace.collab.ydoc import doc_from_updates, doc_text

Participant = tuple  # (author_id, kind, model, ref)
WRITER_PAUSE_SECONDS = 10.0


@dataclass
class Session:
    """One editing session: its last update's id (the version's id), time range, participants and final text."""

    up_to_update_id: int
    started_at: datetime
    ended_at: datetime
    participants: list[Participant] = field(default_factory=list)
    text: str = ""
    stored: bool = False  # a DocVersion row holds it (as it is now)
    continues_stored: bool = False  # it goes on from the last stored version (which it replaces)


@dataclass(frozen=True)
class Row:
    id: int
    data: bytes
    participant: Participant
    created_at: datetime


def compress(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def decompress(data: bytes) -> str:
    return zlib.decompress(bytes(data)).decode("utf-8")


def line_changes(old: str, new: str) -> tuple[int, int]:
    """Lines added and deleted going from `old` to `new`."""
    before, after = old.splitlines(), new.splitlines()
    # The lines both share at the start and the end are left out first: a session mostly changes a few lines.
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while end < min(len(before), len(after)) - start and before[-1 - end] == after[-1 - end]:
        end += 1
    before, after = before[start : len(before) - end], after[start : len(after) - end]
    if not before or not after:
        return len(after), len(before)
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    added = deleted = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            deleted += i2 - i1
            added += j2 - j1
    return added, deleted


def _opens_session(participant: Participant) -> bool:
    """A server-side writer (model, job, git, restore) opens a session of its own when it starts writing."""
    _, kind, _, ref = participant
    return kind != HUMAN or bool(ref)


def continues(session: Session, row: Row) -> bool:
    """Whether `row` belongs to `session` (see the module's session rule)."""
    gap = settings.HISTORY_SESSION_GAP_SECONDS
    opener = session.participants[0] if session.participants else None
    if opener is not None and _opens_session(opener) and row.participant != opener:
        gap = min(gap, WRITER_PAUSE_SECONDS)
    gap = timedelta(seconds=gap)
    if row.created_at - session.ended_at > gap:
        return False
    return not (_opens_session(row.participant) and row.participant not in session.participants)


def _rows(file_id: int, after_id: int, up_to_id: int | None = None) -> list[Row]:
    query = DocUpdate.objects.filter(file_id=file_id, id__gt=after_id)
    if up_to_id is not None:
        query = query.filter(id__lte=up_to_id)
    return [
        Row(update_id, bytes(data), (author_id, kind, model, ref), created_at)
        for update_id, data, author_id, kind, model, ref, created_at in query.order_by("id").values_list(
            "id", "data", "author_id", "origin_kind", "origin_model", "origin_ref", "created_at"
        )
    ]


def replay_sessions(snapshot: bytes, rows: list[Row], open_session: Session | None) -> list[Session]:
    """The sessions of `rows` applied in order onto `snapshot`, each with its text at its end. `open_session`: the
    last stored version when it ends at the snapshot; rows that continue it extend it (returned first, no longer
    `stored`)."""
    if not rows:
        return []
    doc = doc_from_updates([snapshot])
    text = doc_text(doc)
    sessions: list[Session] = []
    current = open_session
    for index, row in enumerate(rows):
        if current is None or not continues(current, row):
            current = Session(row.id, row.created_at, row.created_at)
            sessions.append(current)
        elif current is open_session and not sessions:
            participants = [tuple(p) for p in open_session.participants]
            current = Session(row.id, open_session.started_at, row.created_at, participants, continues_stored=True)
            sessions.append(current)
        doc.apply_update(row.data)
        current.up_to_update_id, current.ended_at = row.id, row.created_at
        if row.participant not in current.participants:
            current.participants.append(row.participant)
        following = rows[index + 1] if index + 1 < len(rows) else None
        if following is None or not continues(current, following):
            current.text = str(text)
    return sessions


def _as_session(version: DocVersion) -> Session:
    return Session(
        version.up_to_update_id,
        version.started_at,
        version.ended_at,
        [tuple(p) for p in version.participants],
        decompress(version.text),
        stored=True,
    )


def _last_version(file_id: int) -> DocVersion | None:
    return DocVersion.objects.filter(file_id=file_id).order_by("-up_to_update_id").first()


def record(file_id: int, previous_snapshot: bytes, previous_up_to: int, up_to_id: int, at: datetime) -> None:
    """Store the versions of the file's rows previous_up_to < id <= up_to_id, about to be folded by compaction
    (in its transaction). `at`: when the previous snapshot was made (the time of a version of its text, when the
    file has none yet: text from before history was kept)."""
    last = _last_version(file_id)
    open_session = _as_session(last) if last is not None and last.up_to_update_id == previous_up_to else None
    if last is None and previous_up_to and previous_snapshot:
        before = str(doc_text(doc_from_updates([previous_snapshot])))
        if before:  # a version of its own, which later rows never continue
            last = _store(file_id, Session(previous_up_to, at, at, [], before), None, "")
    previous_text = decompress(last.text) if last is not None else ""
    for session in replay_sessions(previous_snapshot, _rows(file_id, previous_up_to, up_to_id), open_session):
        if session.continues_stored and last is not None:
            # The open session went on: its row now ends where this one does.
            before_last = (
                DocVersion.objects.filter(file_id=file_id, up_to_update_id__lt=last.up_to_update_id)
                .order_by("-up_to_update_id")
                .first()
            )
            previous_text = decompress(before_last.text) if before_last is not None else ""
            _store(file_id, session, last, previous_text)
        else:
            _store(file_id, session, None, previous_text)
        previous_text = session.text


def _store(file_id: int, session: Session, row: DocVersion | None, previous_text: str) -> DocVersion:
    added, deleted = line_changes(previous_text, session.text)
    values = {
        "up_to_update_id": session.up_to_update_id,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "participants": [list(p) for p in session.participants],
        "text": compress(session.text),
        "lines_added": added,
        "lines_deleted": deleted,
    }
    if row is None:
        return DocVersion.objects.create(file_id=file_id, **values)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    return row


def stored_versions(file_id: int) -> list[DocVersion]:
    """The stored versions, oldest first (their texts are read when used)."""
    return list(DocVersion.objects.filter(file_id=file_id).defer("text").order_by("up_to_update_id"))


def log_sessions(file_id: int) -> tuple[list[DocVersion], list[Session], int]:
    """The stored versions (oldest first), the sessions of the updates still in the log (a first one continuing the
    last stored version replaces it), and the id of the newest update included (the live text's)."""
    while True:
        up_to = _folded_up_to(file_id)
        stored = stored_versions(file_id)
        rows = _rows(file_id, up_to)
        # The snapshot only when rows are to be replayed onto it (for a large file, most of what is read).
        row = DocState.objects.filter(file_id=file_id).values_list("snapshot", flat=True).first() if rows else None
        snapshot = bytes(row) if row else b""
        if _folded_up_to(file_id) == up_to:  # else a compaction folded rows meanwhile: read again
            break
    open_version = stored[-1] if stored and stored[-1].up_to_update_id == up_to else None
    open_session = _as_session(open_version) if open_version is not None and rows else None
    sessions = replay_sessions(snapshot, rows, open_session)
    if sessions and sessions[0].continues_stored:
        stored = stored[:-1]
    return stored, sessions, rows[-1].id if rows else up_to


def _folded_up_to(file_id: int) -> int:
    return DocState.objects.filter(file_id=file_id).values_list("last_update_id", flat=True).first() or 0


def text_at_update(file_id: int, update_id: int) -> str | None:
    """The file's text as of update `update_id`: from the log when it is not folded yet, else from the version
    ending there; None when neither has it any more."""
    while True:
        row = DocState.objects.filter(file_id=file_id).values_list("snapshot", "last_update_id").first()
        snapshot, up_to = (bytes(row[0]), row[1]) if row else (b"", 0)
        if update_id < up_to:
            version = DocVersion.objects.filter(file_id=file_id, up_to_update_id=update_id).first()
            return decompress(version.text) if version is not None else None
        updates = [snapshot] + [r.data for r in _rows(file_id, up_to, update_id)]
        now = DocState.objects.filter(file_id=file_id).values_list("last_update_id", flat=True).first() or 0
        if now == up_to:
            return str(doc_text(doc_from_updates(updates)))


def thin(file_id: int, now: datetime | None = None) -> int:
    """Apply the retention rule to the file's stored versions; returns how many were removed. Idempotent."""
    now = now or timezone.now()
    keep_all = now - timedelta(days=settings.HISTORY_KEEP_ALL_DAYS)
    keep_hourly = now - timedelta(days=settings.HISTORY_KEEP_HOURLY_DAYS)
    versions = list(DocVersion.objects.filter(file_id=file_id, ended_at__lt=keep_all).order_by("up_to_update_id"))

    def bucket(version: DocVersion) -> tuple:
        at = version.ended_at.astimezone(UTC)
        return (at.date(), at.hour if version.ended_at >= keep_hourly else -1)

    groups: list[list[DocVersion]] = []
    for version in versions:
        if groups and bucket(groups[-1][-1]) == bucket(version):
            groups[-1].append(version)
        else:
            groups.append([version])
    removed = 0
    for group in groups:
        if len(group) < 2:
            continue
        kept, dropped = group[-1], group[:-1]
        participants = [tuple(p) for version in group for p in version.participants]
        kept.participants = [list(p) for p in dict.fromkeys(participants)]
        kept.started_at = min(version.started_at for version in group)
        earlier = (
            DocVersion.objects.filter(file_id=file_id, up_to_update_id__lt=dropped[0].up_to_update_id)
            .order_by("-up_to_update_id")
            .first()
        )
        kept.lines_added, kept.lines_deleted = line_changes(
            decompress(earlier.text) if earlier is not None else "", decompress(kept.text)
        )
        kept.save()
        removed += DocVersion.objects.filter(id__in=[version.id for version in dropped]).delete()[0]
    return removed
