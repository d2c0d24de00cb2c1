"""Who co-authored a commit: the people and models who wrote the lines it changes, since the last commit (sync
ORM code).

For every text file a commit writes, the file's live text is compared line by line with its text at HEAD
(empty for a new file; `difflib`, as the merge does). A line added or modified credits:

- the origin of every character on it inserted since the last commit (`collab.authorship.credits_since`: the
  CRDT's own record of which stored update inserted each character; characters older than the last commit,
  e.g. the unchanged start of a line, credit nobody);
- whoever's update since the last commit deleted committed text on that line (a deletion mark inside it).

Lines only deleted credit whoever's updates deleted committed text at that place (a mark at the line boundary
where they were). Deletion marks come from the update log: deletions compacted away (`COLLAB_COMPACT_EVERY`)
are no longer known and credit nobody; for characters compacted away the time of the last commit is known to
the minute. Text deleted again before the commit (churn) credits nobody. A file deleted as a whole, and stored
(binary or read-only) files, credit nobody: no per-update record says who removed or replaced them.
People are credited as themselves; Spark and Deep as their model (`Spark (model)`), never as the person who
asked; git pulls and switches and server writes credit nobody.
"""

from __future__ import annotations

from datetime import datetime
from difflib import SequenceMatcher

from workspace.collab import authorship
from workspace.collab.attribution import Contributor, contributors_of
from workspace.collab.authorship import Since


def changed_line_origins(head_text: str, recent: Since) -> set[int]:
    """The origin indexes (in `recent.credits.origins`) credited with the lines that differ from `head_text`."""
    live = recent.credits.text
    head_lines = head_text.splitlines(keepends=True)
    live_lines = live.splitlines(keepends=True)
    starts = [0]
    for line in live_lines:
        starts.append(starts[-1] + len(line.encode("utf-8")))
    total = starts[-1]
    credited: set[int] = set()
    per_byte = recent.credits.per_byte
    matcher = SequenceMatcher(None, head_lines, live_lines, autojunk=False)
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "delete":  # the deleted lines were between live lines j1 - 1 and j1
            low, high = max(starts[j1] - 1, 0), starts[j1]
        else:
            low, high = starts[j1], starts[j2] - 1 if j2 < len(live_lines) or live.endswith("\n") else total
            credited.update(number for number in set(per_byte[starts[j1] : starts[j2]]) if recent.is_after(number))
        credited.update(origin for offset, origin in recent.deletions if low <= offset <= high)
    return credited


def co_authors(texts: list[tuple[int, str]], since: datetime | None, committer_id: int | None) -> list[Contributor]:
    """The contributors to the changed lines of these (live file id, text at HEAD) since `since`, the committer
    left out; people first, then models."""
    at = since.timestamp() if since is not None else None
    keys = set()
    for file_id, head_text in texts:
        recent = authorship.credits_since(file_id, at)
        for number in changed_line_origins(head_text, recent):
            origin = recent.credits.origins[number]
            keys.add((origin.author_id, origin.kind, origin.model))
    return [c for c in contributors_of(keys) if c.user_id is None or c.user_id != committer_id]
