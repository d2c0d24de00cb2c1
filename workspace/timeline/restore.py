"""Restoring a version of a file, or only some of its hunks, into the live document, and undoing a restore.

A restore is a three-way merge (collab.merge) into the live document, so everyone sees it at once as CRDT edits
and concurrent edits elsewhere are kept: base = the live text the caller looked at (as of `live_update_id`, the
diff's), theirs = that text with the chosen hunks taken from the version (the whole version when none are
chosen), ours = the live text now. Lines someone changed meanwhile that the restore would also change are a
conflict: the live text is kept there and the conflict reported. The edit is stored for the restoring user
(`Author` of kind human with the restore's ref, so it is a version of its own in the timeline) and recorded
(`FileRestore`) with the texts before and after it, after an automatic checkpoint of the workspace; undoing it is
the same merge backwards (base = the text after, theirs = the text before), one unit again, keeping what others
wrote since.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from workspace.collab import checkpoints, versions
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.merge import merge_into_file_outcome
from workspace.projects.models import FileNode
from workspace.timeline.history import hunks, live_text, version_text
from workspace.timeline.models import FileRestore


class RestoreError(Exception):
    """The restore cannot be done as asked; the message is for the user."""


class Stale(RestoreError):
    """The live text the hunks were chosen against is no longer known (folded by compaction): diff again."""


@dataclass(frozen=True)
class Outcome:
    restore_id: int
    conflicts: list[dict]


def restore(
    node: FileNode, user, version_id: int, chosen: list[int] | None = None, live_update_id: int | None = None
) -> Outcome:
    """Restore version `version_id` (VersionNotFound when there is none), or only its hunks `chosen` (indexes in
    the diff from the version to the live text as of `live_update_id`)."""
    old = version_text(node, version_id)
    if live_update_id is None:
        base, _ = live_text(node)
    else:
        base = versions.text_at_update(node.id, live_update_id)
        if base is None:
            raise Stale("the file changed too much since that diff: open it again")
    proposed = old if chosen is None else _with_hunks(old, base, chosen)
    checkpoints.auto(node.workspace_id, f"before restoring {node.path} to an earlier version", user.id)
    record = FileRestore.objects.create(file=node, user=user, version_id=version_id, hunks=chosen)
    author = Author(user.id, HUMAN, ref=f"restore:{record.id}")
    try:
        merged = merge_into_file_outcome(node.id, base, proposed, "restore", author)
    except BaseException:
        record.delete()
        raise
    record.text_before = versions.compress(merged.before)
    record.text_after = versions.compress(merged.after)
    record.conflicts = len(merged.conflicts)
    record.save(update_fields=["text_before", "text_after", "conflicts"])
    return Outcome(record.id, merged.conflicts)


def _with_hunks(old: str, base: str, chosen: list[int]) -> str:
    """`base` with the chosen hunks (of the diff old -> base) put back to the old lines."""
    found = hunks(old, base)
    if not chosen or any(not 0 <= index < len(found) for index in chosen):
        raise RestoreError(f"hunks are numbered 0 to {len(found) - 1}")
    old_lines, base_lines = old.splitlines(keepends=True), base.splitlines(keepends=True)
    for index in sorted(set(chosen), reverse=True):
        hunk = found[index]
        base_lines[hunk.new_start : hunk.new_end] = old_lines[hunk.old_start : hunk.old_end]
    return "".join(base_lines)


def undo(node: FileNode, user, restore_id: int) -> list[dict]:
    """Undo restore `restore_id` of this file (FileRestore.DoesNotExist when it has none): returns the conflicts."""
    record = FileRestore.objects.get(id=restore_id, file=node)
    claimed = FileRestore.objects.filter(id=record.id, undone_at__isnull=True).update(
        undone_at=timezone.now(), undone_by=user
    )
    if not claimed:
        raise RestoreError("this restore was already undone")
    author = Author(user.id, HUMAN, ref=f"undo:{record.id}")
    before, after = versions.decompress(record.text_before), versions.decompress(record.text_after)
    try:
        return merge_into_file_outcome(node.id, after, before, "restore", author).conflicts
    except BaseException:
        FileRestore.objects.filter(id=record.id).update(undone_at=None, undone_by=None)
        raise


def recent_restores(node: FileNode, limit: int = 20) -> list[FileRestore]:
    """The file's latest restores, newest first."""
    return list(FileRestore.objects.filter(file=node).select_related("user").order_by("-id")[:limit])
