"""Per-hunk review of a pending AI edit: its line hunks (the text from before the thread vs the text the AI wrote),
where each one sits in the document (Yjs relative positions, for browsers), and which ids to delete and what to put
back to reject one of them.

A hunk whose new side would be empty (the AI deleted lines and wrote nothing in their place) takes in one unchanged
neighbouring line on both sides, so every hunk has AI characters to anchor on.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from workspace.spark.undo import EditRecord, Range, id_position, utf16_len

ACCEPTED = "accepted"
REJECTED = "rejected"


@dataclass(frozen=True)
class Hunk:
    index: int
    old: str
    new: str
    start: int  # UTF-16 offsets of `new` in the AI's inserted text
    end: int

    def ids(self, record: EditRecord) -> list[Range]:
        return record.own_ids(self.start, self.end)


def hunks(old: str, new: str) -> list[Hunk]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    if not b:
        return []  # nothing was written: only a full Reject makes sense
    offsets = [0]
    for line in b:
        offsets.append(offsets[-1] + utf16_len(line))
    spans: list[list[int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if j1 == j2:  # only deletions: take in the unchanged line before (or after) on both sides
            if j1 > 0:
                i1, j1 = i1 - 1, j1 - 1
            else:
                i2, j2 = i2 + 1, j2 + 1
        if spans and j1 < spans[-1][3]:  # two widened hunks share a line: one hunk
            spans[-1][1], spans[-1][3] = max(spans[-1][1], i2), max(spans[-1][3], j2)
        else:
            spans.append([i1, i2, j1, j2])
    return [
        Hunk(index, "".join(a[i1:i2]), "".join(b[j1:j2]), offsets[j1], offsets[j2])
        for index, (i1, i2, j1, j2) in enumerate(spans)
    ]


def describe(record: EditRecord, inserted: str, decisions: dict) -> list[dict]:
    """The hunks of an edit as browsers show them: texts, decision, and the document span of the new lines."""
    out = []
    for hunk in hunks(record.restore, inserted):
        ids = hunk.ids(record)
        item = {"index": hunk.index, "old": hunk.old, "new": hunk.new, "state": decisions.get(str(hunk.index))}
        if ids:
            first, last = ids[0], ids[-1]
            item["start"] = id_position(first[0], first[1], 0)
            item["end"] = id_position(last[0], last[1] + last[2] - 1, -1)
        out.append(item)
    return out


def undecided(record: EditRecord, inserted: str, decisions: dict) -> list[Hunk]:
    return [h for h in hunks(record.restore, inserted) if str(h.index) not in decisions]
