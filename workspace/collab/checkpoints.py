"""Checkpoints of a whole workspace: take, list, show, delete, restore, prune (sync ORM code).

A checkpoint records every file's path and content at one instant: live text documents by their text, stored
files by their blob's hash (`collab.contents`: each distinct content stored once, compressed, so an unchanged
file costs one small manifest row per checkpoint). Manual checkpoints are named by a user and kept until
deleted; automatic ones (`auto`, one line at each call site) are taken before every Deep apply, git pull, branch
switch, restore and accept of a whole Spark edit, and kept `CHECKPOINT_KEEP_DAYS` days, like deleted files.

Restoring (the whole workspace, or one path) first takes an automatic checkpoint, so restoring that one undoes
it as one unit. Then, matched by path: a live text file gets the checkpoint's text merged in as CRDT edits
(`collab.merge.merge_into_file`, base = its text when the restore began, so an edit typed meanwhile is kept and
everyone sees the result live, stored for the restoring user); a file deleted since is recreated through the
file tree's rules; a file created since is left alone and listed, or deleted (with its tombstone) on request.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workspace.collab import contents, tombstones
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.merge import merge_into_file
from workspace.collab.models import Checkpoint, CheckpointContent, CheckpointFile, CheckpointKind, DeletedFile
from workspace.collab.store import load_text
from workspace.collab.tombstones import announce
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import FileTreeError, notify_tree_changed


class CheckpointError(ValueError):
    """A checkpoint operation that cannot be done, with a message fit for the user."""


def create(workspace_id: int, kind: str, *, name: str = "", reason: str = "", user_id: int | None = None) -> Checkpoint:
    """Record every file of the workspace now; prunes what retention lets go first."""
    if kind == CheckpointKind.MANUAL and not name.strip():
        raise CheckpointError("Name the checkpoint.")
    prune(workspace_id)
    with transaction.atomic():
        nodes = contents.files_of(workspace_id)
        kept = contents.keep_live(nodes)
        checkpoint = Checkpoint.objects.create(
            workspace_id=workspace_id, kind=kind, name=name.strip()[:200], reason=reason[:200], created_by_id=user_id
        )
        CheckpointFile.objects.bulk_create(
            CheckpointFile(checkpoint=checkpoint, path=n.path, kind=n.kind, content_id=kept[n.id])
            for n in nodes
            if n.id in kept
        )
    announce(workspace_id)
    return checkpoint


def auto(workspace_id: int, reason: str, user_id: int | None = None) -> Checkpoint:
    """An automatic checkpoint, taken before an operation that rewrites files (`reason` says which)."""
    return create(workspace_id, CheckpointKind.AUTO, reason=reason, user_id=user_id)


def prune(workspace_id: int, now=None) -> int:
    """Drop the workspace's automatic checkpoints and deleted files older than CHECKPOINT_KEEP_DAYS, and the
    contents nothing holds any more; how many checkpoints and tombstones went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CHECKPOINT_KEEP_DAYS)
    old = Checkpoint.objects.filter(workspace_id=workspace_id, kind=CheckpointKind.AUTO, created_at__lt=cutoff)
    gone_deleted = DeletedFile.objects.filter(workspace_id=workspace_id, deleted_at__lt=cutoff)
    with transaction.atomic():
        digests = set(CheckpointFile.objects.filter(checkpoint__in=old).values_list("content_id", flat=True))
        digests |= set(gone_deleted.values_list("content_id", flat=True))
        count = old.count() + gone_deleted.count()
        old.delete()
        gone_deleted.delete()
        contents.sweep(digests)
    return count


def delete(checkpoint: Checkpoint) -> None:
    with transaction.atomic():
        digests = list(checkpoint.files.values_list("content_id", flat=True))
        checkpoint.delete()
        contents.sweep(digests)
    announce(checkpoint.workspace_id)


def summary(checkpoint: Checkpoint) -> dict:
    user = checkpoint.created_by
    return {
        "id": checkpoint.id,
        "kind": checkpoint.kind,
        "name": checkpoint.name,
        "reason": checkpoint.reason,
        "created_by": user.get_username() if user else None,
        "created_at": checkpoint.created_at.isoformat(),
    }


def listing(workspace_id: int) -> list[dict]:
    rows = (
        Checkpoint.objects.filter(workspace_id=workspace_id).select_related("created_by").order_by("-created_at", "-id")
    )
    return [summary(row) for row in rows]


def files(checkpoint: Checkpoint) -> dict:
    """The checkpoint's files, each with whether it differs from the live file now (or is missing now), and the
    files created since."""
    entries = list(checkpoint.files.order_by("path"))
    sizes = dict(
        CheckpointContent.objects.filter(sha256__in={e.content_id for e in entries}).values_list("sha256", "size")
    )
    live = {n.path: n for n in contents.files_of(checkpoint.workspace_id)}
    hashes = contents.live_hashes(list(live.values()))
    listed = []
    for entry in entries:
        node = live.get(entry.path)
        state = "missing" if node is None else "same" if hashes.get(node.id) == entry.content_id else "differs"
        listed.append({"path": entry.path, "kind": entry.kind, "size": sizes[entry.content_id], "state": state})
    created = sorted(set(live) - {e.path for e in entries})
    return {**summary(checkpoint), "files": listed, "created_since": created}


def restore(
    checkpoint: Checkpoint, user_id: int | None, *, path: str | None = None, remove_created: bool = False
) -> dict:
    """Bring the checkpoint back (only `path`, when given), after an automatic checkpoint of now; the outcome."""
    if path is not None and not checkpoint.files.filter(path=path).exists():
        raise CheckpointError(f"{path!r} is not in this checkpoint.")
    what = f"checkpoint #{checkpoint.id}" + (f" ({path})" if path else "")
    before = auto(checkpoint.workspace_id, f"before restoring {what}", user_id)
    return restore_onto(checkpoint, before, user_id, path=path, remove_created=remove_created)


def restore_onto(
    checkpoint: Checkpoint,
    before: Checkpoint,
    user_id: int | None,
    *,
    path: str | None = None,
    remove_created: bool = False,
) -> dict:
    """Bring the checkpoint back over the files as they were at `before` (the automatic checkpoint the restore
    took): edits made since `before` are kept by the merge where they do not overlap."""
    author = Author(user_id, HUMAN, "", f"checkpoint:{checkpoint.id}")
    entries = list(checkpoint.files.order_by("path") if path is None else checkpoint.files.filter(path=path))
    bases = dict(before.files.values_list("path", "content_id"))
    live = {n.path: n for n in FileNode.objects.filter(workspace_id=checkpoint.workspace_id)}
    outcomes = [
        _restore_entry(checkpoint, entry, live.get(entry.path), bases.get(entry.path), author) for entry in entries
    ]
    created, removed = [], []
    if path is None:
        created = sorted(p for p, n in live.items() if not n.is_folder and p not in {e.path for e in entries})
        if remove_created:
            for gone in created:
                node = FileNode.objects.filter(workspace_id=checkpoint.workspace_id, path=gone).first()
                if node is not None:
                    tombstones.delete_file(node, user_id)
                    removed.append(gone)
            created = []
    if removed or any(o["status"] == "recreated" for o in outcomes):
        notify_tree_changed(checkpoint.workspace_id)
    return {
        "checkpoint": checkpoint.id,
        "undo_checkpoint": before.id,
        "files": [o for o in outcomes if o["status"] != "unchanged"],
        "unchanged": sum(o["status"] == "unchanged" for o in outcomes),
        "created_since": created,
        "removed": removed,
    }


def _restore_entry(
    checkpoint: Checkpoint, entry: CheckpointFile, node: FileNode | None, base: str | None, author: Author
) -> dict:
    """Bring one file of the checkpoint back; `base`: its content hash at the restore's own checkpoint."""
    outcome = {"path": entry.path, "status": "restored", "conflicts": []}
    if node is not None and base == entry.content_id:
        return {**outcome, "status": "unchanged"}  # (its content is not even read)
    data = contents.read(entry.content_id)
    if node is None:
        try:
            if entry.kind == FileKind.TEXT:
                create_file_with_text(checkpoint.workspace, entry.path, data.decode("utf-8"), author=author)
            else:
                contents.write_stored(checkpoint.workspace_id, entry.path, entry.kind, data)
        except FileTreeError as exc:
            return {**outcome, "status": "conflict", "message": str(exc)}
        return {**outcome, "status": "recreated"}
    if node.is_folder or (node.kind == FileKind.TEXT) != (entry.kind == FileKind.TEXT):
        now = "folder" if node.is_folder else f"{node.kind} file"
        return {**outcome, "status": "conflict", "message": f"{entry.path} is a {now} now"}
    if entry.kind != FileKind.TEXT:
        contents.write_stored(checkpoint.workspace_id, entry.path, entry.kind, data, node)
        return outcome
    base_text = contents.read(base).decode("utf-8") if base else load_text(node.id)
    conflicts = merge_into_file(node.id, base_text, data.decode("utf-8"), f"checkpoint:{checkpoint.id}", author)
    return {**outcome, "status": "conflict" if conflicts else "restored", "conflicts": conflicts}
