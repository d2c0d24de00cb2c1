"""Line-based three-way merge (diff3) and its application to a live Y.Text as minimal CRDT edits: the one text
merge of every server-side writer that brings another version into a live document (Deep's apply, a git pull).

base = the text the other version started from (the file when the job started, the last commit), ours = the
live document now, theirs = the other version (the job's, the remote's).
Changes made only on one side are taken; identical changes on both sides are taken once; different
changes to the same (or adjacent) lines are a conflict: the live text keeps ours there and the
conflict is reported with all three versions, so nothing is silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from pycrdt import Doc, Text

from workspace.collab import store
from workspace.collab.attribution import SERVER, Author
from workspace.collab.publish import publish_update_sync
from workspace.collab.ydoc import doc_text, is_empty_update


@dataclass(frozen=True)
class Change:
    """Side lines [side_start, side_end) replace base lines [base_start, base_end)."""

    base_start: int
    base_end: int
    side_start: int
    side_end: int


@dataclass(frozen=True)
class Conflict:
    line: int  # 1-based line in the merged text where ours was kept
    base: str
    ours: str
    theirs: str
    # Where ours was kept: lines [ours_start, ours_end) of ours (0-based), to replace when the conflict is resolved.
    ours_start: int = 0
    ours_end: int = 0

    def as_dict(self) -> dict:
        return {"line": self.line, "base": self.base, "ours": self.ours, "theirs": self.theirs}


@dataclass(frozen=True)
class Replacement:
    """In ours: lines [start, end) become `lines`."""

    start: int
    end: int
    lines: list[str]


@dataclass
class MergeResult:
    text: str
    conflicts: list[Conflict] = field(default_factory=list)
    # Edits to turn ours into the merged text, in ours line coordinates, ascending.
    replacements: list[Replacement] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def changes(base: list[str], side: list[str]) -> list[Change]:
    matcher = SequenceMatcher(None, base, side, autojunk=False)
    return [Change(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _side_lines(base: list[str], side: list[str], side_changes: list[Change], lo: int, hi: int) -> list[str]:
    """What the side has in place of base[lo:hi], given its changes that all lie inside [lo, hi]."""
    out: list[str] = []
    pos = lo
    for change in side_changes:
        out += base[pos : change.base_start] + side[change.side_start : change.side_end]
        pos = change.base_end
    return out + base[pos:hi]


def _side_offset(side_changes: list[Change], base_index: int) -> int:
    """How far a base line index has moved in the side, counting the side's changes before it."""
    before = [c for c in side_changes if c.base_end < base_index]
    return sum((c.side_end - c.side_start) - (c.base_end - c.base_start) for c in before)


def merge3(base: str, ours: str, theirs: str) -> MergeResult:
    base_lines = base.splitlines(keepends=True)
    our_lines = ours.splitlines(keepends=True)
    their_lines = theirs.splitlines(keepends=True)
    ours_changes = changes(base_lines, our_lines)
    theirs_changes = changes(base_lines, their_lines)
    tagged = sorted(
        [(c.base_start, c.base_end, 0, c) for c in ours_changes]
        + [(c.base_start, c.base_end, 1, c) for c in theirs_changes],
        key=lambda item: (item[0], item[1]),
    )
    # Cluster changes whose base ranges overlap or touch: they must be decided together.
    clusters: list[tuple[int, int, list[Change], list[Change]]] = []
    for start, end, side, change in tagged:
        if clusters and start <= clusters[-1][1]:
            lo, hi, mine, yours = clusters[-1]
            clusters[-1] = (lo, max(hi, end), mine, yours)
        else:
            clusters.append((start, end, [], []))
        (clusters[-1][2] if side == 0 else clusters[-1][3]).append(change)

    result = MergeResult(text="")
    merged: list[str] = []
    base_pos = 0
    for lo, hi, mine, yours in clusters:
        merged += base_lines[base_pos:lo]
        ours_slice = _side_lines(base_lines, our_lines, mine, lo, hi)
        theirs_slice = _side_lines(base_lines, their_lines, yours, lo, hi)
        ours_start = lo + _side_offset(ours_changes, lo)
        if not yours or ours_slice == theirs_slice:
            merged += ours_slice
        elif not mine:
            result.replacements.append(Replacement(ours_start, ours_start + len(ours_slice), theirs_slice))
            merged += theirs_slice
        else:
            result.conflicts.append(
                Conflict(
                    len(merged) + 1,
                    "".join(base_lines[lo:hi]),
                    "".join(ours_slice),
                    "".join(theirs_slice),
                    ours_start,
                    ours_start + len(ours_slice),
                )
            )
            merged += ours_slice
        base_pos = hi
    merged += base_lines[base_pos:]
    result.text = "".join(merged)
    return result


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def apply_to_text(doc: Doc, text: Text, ours: str, merge: MergeResult) -> bytes:
    """Apply the merge's replacements to `text` (whose content is `ours`) in one transaction.

    Only the changed lines are touched, and inside them only the span that differs, so concurrent
    edits elsewhere in the document survive. Returns the CRDT update (empty when nothing changed).
    pycrdt indexes Y.Text by UTF-8 bytes, hence the byte offsets.
    """
    our_lines = ours.splitlines(keepends=True)
    line_offsets = [0]
    for line in our_lines:
        line_offsets.append(line_offsets[-1] + _utf8_len(line))
    before = doc.get_state()
    with doc.transaction():
        for replacement in reversed(merge.replacements):
            old = "".join(our_lines[replacement.start : replacement.end])
            new = "".join(replacement.lines)
            prefix = _common_prefix(old, new)
            suffix = _common_suffix(old[prefix:], new[prefix:])
            start = line_offsets[replacement.start] + _utf8_len(old[:prefix])
            removed = old[prefix : len(old) - suffix]
            inserted = new[prefix : len(new) - suffix]
            if removed:
                del text[start : start + _utf8_len(removed)]
            if inserted:
                text.insert(start, inserted)
    return doc.get_update(before)


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


def _common_suffix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[-1 - index] == b[-1 - index]:
        index += 1
    return index


@dataclass(frozen=True)
class FileMerge:
    """What a merge into a live file did: the live text it merged into, the merged text, the conflicts."""

    before: str
    after: str
    conflicts: list[dict]


def merge_into_file(file_id: int, base: str, proposed: str, origin: str, author: Author = SERVER) -> list[dict]:
    """Merge `proposed` into the live file as one CRDT edit stored for `author` and fanned out to every client;
    returns the conflicts (empty when clean), where the live text was kept (sync code)."""
    return merge_into_file_outcome(file_id, base, proposed, origin, author).conflicts


def merge_into_file_outcome(file_id: int, base: str, proposed: str, origin: str, author: Author = SERVER) -> FileMerge:
    """`merge_into_file`, also saying the live text before and after (what undoing the merge needs)."""
    doc = store.load_doc(file_id)
    text = doc_text(doc)
    ours = str(text)
    merge = merge3(base, ours, proposed)
    update = apply_to_text(doc, text, ours, merge)
    if not is_empty_update(update):
        publish_update_sync(file_id, update, origin, author)
    return FileMerge(ours, merge.text, [conflict.as_dict() for conflict in merge.conflicts])
