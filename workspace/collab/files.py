"""A file's node and its document together, for the edges and the apps above (sync ORM code).

`projects` knows the file tree and nothing of documents; what needs both lives here.
"""

from __future__ import annotations

from django.db import transaction

from workspace.collab import store
from workspace.collab.attribution import SERVER, Author
from workspace.projects.models import FileNode, Workspace
from workspace.projects.services import create_file


def create_file_with_text(
    workspace: Workspace, path: str, text: str = "", *, is_folder: bool = False, author: Author = SERVER
) -> FileNode:
    """Create a file whose document holds `text` (a folder holds none), in one transaction: either both the node
    and its first text are stored, or neither. Raises FileTreeError like `projects.services.create_file`."""
    with transaction.atomic():
        node = create_file(workspace, path, is_folder=is_folder)
        if text and not is_folder:
            store.replace_text(node.id, text, author)
    return node


def compact_document(file_id: int) -> int:
    """Fold the file's update log into its snapshot; idempotent, and a no-op (0) for a deleted file.

    Returns how many log entries were folded.
    """
    if not FileNode.objects.filter(id=file_id).exists():
        return 0
    return store.compact(file_id)
