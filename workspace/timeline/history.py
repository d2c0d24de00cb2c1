"""A file's timeline: its versions newest first (the stored ones and those still in the update log, by the same
session rule, collab.versions), who took part in each (named as the blame names authors), lines added and deleted
against the version before, one version's text, and the line hunks between two versions or a version and the
live text.

A version's id is the id of the last update of its session (see collab.versions); `LIVE` stands for the live text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher

from workspace.collab import store, versions
from workspace.collab.authorship import Origin
from workspace.collab.ydoc import doc_from_updates, doc_text
from workspace.projects.models import FileNode
from workspace.timeline.blame import describe


class VersionNotFound(Exception):
    """No version of this file has that id (never, or thinned away, or continued by a later session)."""


@dataclass(frozen=True)
class Participant:
    kind: str  # human, spark, deep, git, server
    name: str  # a person's name, or "Spark · model"
    user_id: int | None
    model: str


@dataclass(frozen=True)
class Version:
    id: int
    started_at: float  # epoch seconds
    ended_at: float
    participants: list[Participant]
    lines_added: int
    lines_deleted: int
    compacted: bool  # stored by compaction (False: computed from the update log)


@dataclass(frozen=True)
class Timeline:
    versions: list[Version]  # newest first
    live_update_id: int  # the newest update of the live text
    texts: dict[int, str]  # version id -> text, for the versions computed from the log


@dataclass(frozen=True)
class Hunk:
    """Lines [old_start, old_end) of the old text are lines [new_start, new_end) of the new one (0-based)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int


@dataclass(frozen=True)
class Diff:
    old_id: int
    new_id: int | None  # None: the live text
    old_text: str
    new_text: str
    hunks: list[Hunk]
    live_update_id: int  # when new is the live text: the update it is as of (what a hunk restore names)


def hunks(old: str, new: str) -> list[Hunk]:
    """The changed line ranges between two texts, in order."""
    matcher = SequenceMatcher(None, old.splitlines(keepends=True), new.splitlines(keepends=True), autojunk=False)
    return [Hunk(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _epoch(at: datetime) -> float:
    return at.timestamp()


def timeline(node: FileNode) -> Timeline:
    """The file's versions, newest first."""
    stored, sessions, live_update_id = versions.log_sessions(node.id)
    keys = {tuple(p) for v in stored for p in v.participants} | {p for s in sessions for p in s.participants}
    keys = sorted(keys, key=repr)
    named = dict(zip(keys, describe(node.workspace_id, [Origin(*key, 0.0) for key in keys]), strict=True))

    def people(participants) -> list[Participant]:
        seen: dict[tuple, Participant] = {}
        for key in participants:
            info = named[tuple(key)]
            seen.setdefault((info.kind, info.name), Participant(info.kind, info.name, info.user_id, info.model))
        return list(seen.values())

    listed = [
        Version(
            v.up_to_update_id,
            _epoch(v.started_at),
            _epoch(v.ended_at),
            people(v.participants),
            v.lines_added,
            v.lines_deleted,
            True,
        )
        for v in stored
    ]
    previous = versions.decompress(stored[-1].text) if stored and sessions else ""
    texts = {}
    for session in sessions:
        added, deleted = versions.line_changes(previous, session.text)
        listed.append(
            Version(
                session.up_to_update_id,
                _epoch(session.started_at),
                _epoch(session.ended_at),
                people(session.participants),
                added,
                deleted,
                False,
            )
        )
        texts[session.up_to_update_id] = previous = session.text
    return Timeline(listed[::-1], live_update_id, texts)


def version_text(node: FileNode, version_id: int) -> str:
    """The text of one version of the file; VersionNotFound when it has none with that id."""
    found = timeline(node)
    if version_id in found.texts:
        return found.texts[version_id]
    if any(version.id == version_id for version in found.versions):
        text = versions.text_at_update(node.id, version_id)
        if text is not None:
            return text
    raise VersionNotFound("version not found")


def live_text(node: FileNode) -> tuple[str, int]:
    """The live text and the id of the newest update it includes."""
    parts, last_id = store.load_updates(node.id)
    return str(doc_text(doc_from_updates(parts))), last_id


def diff(node: FileNode, version_id: int, against: int | None = None) -> Diff:
    """The hunks from version `version_id` to version `against` (None: to the live text)."""
    old = version_text(node, version_id)
    if against is None:
        new, live_update_id = live_text(node)
    else:
        new, live_update_id = version_text(node, against), 0
    return Diff(version_id, against, old, new, hunks(old, new), live_update_id)
