"""The files of a terminal's sandbox and the workspace's live documents, kept in step (sync ORM code).

In: before a command runs (the Enter key), the files whose live text differs from what the sandbox holds are
sent in as a tar. Out: after each command (bash's prompt) and every TERMINAL_SYNC_SECONDS the sandbox sends the
files that changed there; each is merged into its live document (the jobs' three-way merge: edits people made
meanwhile are kept) as an update whose origin names the user who ran the command, and new files are created in
the tree. A file removed in the sandbox is deleted from the workspace only when its live text is still what the
sandbox held (nobody edited it since the command saw it); an edited one is kept and reported. What comes out of
the sandbox is not trusted: sizes bounded, regular files at clean relative paths only, UTF-8 text only.
"""

from __future__ import annotations

import io
import logging
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from workspace.collab import store, tombstones
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.merge import merge_into_file
from workspace.jobs.snapshot import split_unusable, take_snapshot
from workspace.projects.models import FileNode, Workspace
from workspace.projects.services import FileTreeError, normalise_path, notify_tree_changed

logger = logging.getLogger(__name__)


@dataclass
class WriteBack:
    written: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # with the reason
    texts: dict[str, str] = field(default_factory=dict)  # what the sandbox now holds, by path


def tar_of_texts(texts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, text in sorted(texts.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def live_texts(workspace_id: int) -> dict[str, str]:
    """Every file's live text, by path (the files a job could hold: the same copy goes into a terminal)."""
    usable, _notes = split_unusable(take_snapshot(workspace_id))
    return {path: item.text for path, item in usable.items()}


def edits_to_send(workspace_id: int, known: dict[str, str]) -> dict[str, str]:
    """The live files whose text differs from what the sandbox is known to hold."""
    return {path: text for path, text in live_texts(workspace_id).items() if known.get(path) != text}


def read_changes(payload: bytes) -> tuple[dict[str, bytes], list[str]]:
    """The files of a tar from the sandbox: regular files at clean relative paths, each within the document size."""
    files: dict[str, bytes] = {}
    skipped: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r") as tar:
        for member in tar:
            if not member.isfile():
                continue
            try:
                path = normalise_path(member.name)
            except FileTreeError:
                skipped.append(f"{member.name}: not a path a workspace file may have")
                continue
            if member.size > settings.COLLAB_MAX_DOC_BYTES:
                skipped.append(f"{path}: larger than COLLAB_MAX_DOC_BYTES")
                continue
            with tar.extractfile(member) as source:
                files[path] = source.read(settings.COLLAB_MAX_DOC_BYTES + 1)
    return files, skipped


def read_deleted(paths: object) -> tuple[list[str], list[str]]:
    """The paths the sandbox says it removed (untrusted: a list of clean relative paths), and what was refused."""
    if not isinstance(paths, list):
        return [], ["the sandbox's list of deleted files was malformed"]
    clean: list[str] = []
    skipped: list[str] = []
    for raw in paths:
        try:
            clean.append(normalise_path(raw if isinstance(raw, str) else ""))
        except FileTreeError:
            skipped.append(f"{str(raw)[:200]}: not a path a workspace file may have")
    return clean, skipped


def delete_removed(workspace_id: int, path: str, held: str | None, author: Author) -> str | None:
    """Delete the text file at `path` if its live text is still `held` (what the sandbox had before removing it),
    restorable as a deleted file of `author`. Returns why it was kept, or None once deleted (or when there is nothing
    there to delete)."""
    if held is None:
        return f"{path}: removed in the terminal, but the terminal never held it; kept"
    with transaction.atomic():
        # Locked before the text is read: an update being stored for the file meanwhile waits for this decision.
        node = FileNode.objects.select_for_update().filter(workspace_id=workspace_id, path=path).first()
        if node is None:
            return None
        if not node.is_live_text:
            return f"{path}: removed in the terminal, but not a text file in the workspace; kept"
        if store.load_text(node.id) != held:
            return f"{path}: removed in the terminal, but edited in the editor since the command saw it; kept"
        tombstones.delete_file(node, author.user_id)
    return None


def write_back(
    workspace_id: int,
    files: dict[str, bytes],
    known: dict[str, str],
    origin: str,
    username: str,
    deleted: Sequence[str] = (),
) -> WriteBack:
    """Merge what the sandbox wrote into the live documents, as edits of `username` (who ran the command), and
    delete what it removed (see `delete_removed`). `known`: path -> the text the sandbox held before (the merge's
    base); the outcome's `texts` are what it holds now (a deleted path is left out)."""
    outcome = WriteBack()
    author = Author(get_user_model().objects.filter(username=username).values_list("id", flat=True).first(), HUMAN)
    workspace = Workspace.objects.get(id=workspace_id)
    for path, data in sorted(files.items()):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            outcome.skipped.append(f"{path}: not UTF-8 text")
            continue
        node = FileNode.objects.filter(workspace_id=workspace_id, path=path).first()
        if node is not None and node.is_folder:
            outcome.skipped.append(f"{path}: a folder in the workspace")
            continue
        if node is None:
            try:
                create_file_with_text(workspace, path, text, author=author)
            except FileTreeError as exc:
                outcome.skipped.append(f"{path}: {exc}")
                continue
            outcome.created.append(path)
        else:
            base = known.get(path)
            merge_into_file(node.id, store.load_text(node.id) if base is None else base, text, origin, author)
            outcome.written.append(path)
        outcome.texts[path] = text
    for path in sorted(set(deleted) - set(files)):
        kept = delete_removed(workspace_id, path, known.get(path), author)
        if kept is None:
            outcome.deleted.append(path)
        else:
            outcome.skipped.append(kept)
    if outcome.created or outcome.deleted:
        notify_tree_changed(workspace_id)
    return outcome
