"""Deleted files, restorable: deleting a file keeps its tombstone (sync ORM code).

`delete_file` is how every writer deletes a file or folder (the file tree's API, Deep's apply, a git pull): in
one transaction it keeps, for each file going, its path, kind, what it held (a shared content row,
`collab.contents`) and who deleted it, then deletes through `projects.services.delete_file`. A tombstone is
kept `CHECKPOINT_KEEP_DAYS` days (pruned with the automatic checkpoints) and can be restored at its path, or at
a new one when that path is taken now.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import F

from workspace.broadcast import broadcast_to_workspace
from workspace.collab import contents
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.models import DeletedFile
from workspace.projects import services
from workspace.projects.models import FileKind, FileNode


def announce(workspace_id: int) -> None:
    """Tell the workspace's pages that its checkpoints or deleted files changed (once committed)."""
    transaction.on_commit(partial(broadcast_to_workspace, workspace_id, "checkpoints.changed", {}))


def delete_file(node: FileNode, deleted_by: int | None) -> int:
    """Delete a file, or a folder and everything below it, keeping a tombstone of each file; how many nodes went."""
    with transaction.atomic():
        going = [node] if not node.is_folder else list(services.nodes_below(node.workspace_id, node.path))
        files = [n for n in going if not n.is_folder]
        kept = contents.keep_live(files)
        DeletedFile.objects.bulk_create(
            DeletedFile(
                workspace_id=n.workspace_id, path=n.path, kind=n.kind, content_id=kept[n.id], deleted_by_id=deleted_by
            )
            for n in files
            if n.id in kept
        )
        announce(node.workspace_id)
        return services.delete_file(node)


def listing(workspace_id: int) -> list[dict]:
    """The workspace's deleted files, newest first, with whether their path is taken again now."""
    rows = list(
        DeletedFile.objects.filter(workspace_id=workspace_id)
        .select_related("deleted_by")
        .annotate(size=F("content__size"))  # not the content itself: its compressed bytes stay unread
        .order_by("-deleted_at", "-id")
    )
    taken = set(
        FileNode.objects.filter(workspace_id=workspace_id, path__in={r.path for r in rows}).values_list(
            "path", flat=True
        )
    )
    return [
        {
            "id": row.id,
            "path": row.path,
            "kind": row.kind,
            "size": row.size,
            "deleted_by": row.deleted_by.get_username() if row.deleted_by else None,
            "deleted_at": row.deleted_at.isoformat(),
            "path_taken": row.path in taken,
        }
        for row in rows
    ]


def restore(tombstone: DeletedFile, user_id: int | None, new_path: str | None = None) -> FileNode:
    """Recreate a deleted file at its path, or at `new_path`; the tombstone goes. Raises FileTreeError (path
    validation, or the path taken: then a new path must be given)."""
    path = services.normalise_path(new_path) if new_path else tombstone.path
    if not new_path and FileNode.objects.filter(workspace_id=tombstone.workspace_id, path=path).exists():
        raise services.FileTreeError(f"{path!r} exists now: give a new path to restore the deleted file at.")
    data = contents.read(tombstone.content_id)
    with transaction.atomic():
        if tombstone.kind == FileKind.TEXT:
            author = Author(user_id, HUMAN, "", f"deleted:{tombstone.id}")
            node = create_file_with_text(tombstone.workspace, path, data.decode("utf-8"), author=author)
        else:
            node = contents.write_stored(tombstone.workspace_id, path, tombstone.kind, data)
        tombstone.delete()
        contents.sweep([tombstone.content_id])
        announce(tombstone.workspace_id)
    services.notify_tree_changed(tombstone.workspace_id)
    return node
