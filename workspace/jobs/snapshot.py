"""The workspace as a job sees it: a snapshot of every file's text, materialised in a scratch directory.

Also how a job speaks of files to its members: by their workspace path, never by where the server keeps its
scratch copy (`hide_server_paths`, `describe_os_error`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from workspace.collab import store
from workspace.projects.models import FileNode

# Where the sandbox mounts the scratch copy; error texts name the copy so, whatever the backend.
WORKSPACE_MOUNT = "/workspace"
SERVER_PATH = "<server>"
GENERIC_DIRS = ("", "/usr", "/usr/local")


class PathOutsideWorkspace(ValueError):
    """A path that does not name a place inside the job's scratch copy."""


class ScratchError(OSError):
    """The scratch copy could not be written; the message names workspace paths only."""


@dataclass(frozen=True)
class SnapshotFile:
    file_id: int
    path: str
    text: str


def take_snapshot(workspace_id: int) -> dict[str, SnapshotFile]:
    """Text of every file of the workspace now, keyed by path."""
    nodes = FileNode.objects.filter(workspace_id=workspace_id, is_folder=False).order_by("path")
    return {node.path: SnapshotFile(node.id, node.path, store.load_text(node.id)) for node in nodes}


def split_unusable(snapshot: dict[str, SnapshotFile]) -> tuple[dict[str, SnapshotFile], list[str]]:
    """The files a job can hold, and a note per file it cannot (by workspace path, with the reason).

    Paths are checked at creation, but a file created before a rule existed (e.g. a name over 255 bytes, which
    no file system can hold) must cost the job that one file, not fail every job of the workspace.
    """
    from workspace.projects.services import FileTreeError, normalise_path

    usable: dict[str, SnapshotFile] = {}
    notes: list[str] = []
    for path, item in snapshot.items():
        try:
            normalise_path(path)
        except FileTreeError as exc:
            notes.append(f"{path}: {exc} Rename it to include it in jobs.")
            continue
        usable[path] = item
    return usable, notes


def scratch_dir(job_id: int, attempt: int) -> Path:
    return Path(settings.SANDBOX_ROOT) / f"job-{job_id}-{attempt}"


def materialise(snapshot: dict[str, SnapshotFile], root: Path) -> Path:
    """Write the snapshot under `root` (emptied first); returns the resolved root."""
    try:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ScratchError(
            f"the server could not create the job's copy of the workspace ({reason}); "
            "an operator should check SANDBOX_ROOT"
        ) from exc
    root = root.resolve()
    for item in snapshot.values():
        target = resolve_inside(root, item.path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(item.text, encoding="utf-8")
        except OSError as exc:
            raise ScratchError(
                f"could not copy {item.path} into the job's workspace: {describe_os_error(exc, root)}"
            ) from exc
    return root


def remove_scratch(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


def resolve_inside(root: Path, relative: str) -> Path:
    """The absolute path of `relative` under `root`, refusing anything (.., absolute, symlinks) that leaves it."""
    from workspace.projects.services import FileTreeError, normalise_path

    try:
        clean = normalise_path(relative)
    except FileTreeError as exc:
        raise PathOutsideWorkspace(str(exc)) from exc
    candidate = root / clean
    # realpath follows symlinks a sandboxed command may have planted (e.g. link -> /etc).
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        raise PathOutsideWorkspace(f"{relative!r} points outside the workspace")
    return candidate


def _server_locations(root: Path | None) -> list[tuple[str, str]]:
    """(server path, what to show instead), longest first so a path inside another is replaced whole."""
    places: list[tuple[str, str]] = []
    if root is not None:
        places += [(str(root), WORKSPACE_MOUNT), (os.path.realpath(root), WORKSPACE_MOUNT)]
    for place in (settings.SANDBOX_ROOT, settings.BASE_DIR, sys.prefix, sys.exec_prefix, sys.base_prefix):
        places += [(str(place), SERVER_PATH), (os.path.realpath(place), SERVER_PATH)]
    # A system-wide Python lives in /usr or /usr/local, which tell nothing about this server.
    unique = {path.rstrip("/"): shown for path, shown in places if path.rstrip("/") not in GENERIC_DIRS}
    return sorted(unique.items(), key=lambda item: len(item[0]), reverse=True)


def hide_server_paths(text: str, root: Path | None = None) -> str:
    """`text` with the job's scratch directory shown as /workspace and other server locations (SANDBOX_ROOT,
    the application, its Python environment) as <server>."""
    for path, shown in _server_locations(root):
        # Whole path components only: /srv/app must not turn /srv/apple into <server>le.
        text = re.sub(re.escape(path) + r"(?![\w.\-])", lambda _match, shown=shown: shown, text)
    return text


def describe_os_error(exc: OSError, root: Path | None = None) -> str:
    """An OS error as a sentence without server paths: the reason, and the file by its workspace path."""
    if isinstance(exc, ScratchError):
        return str(exc)
    reason = exc.strerror or type(exc).__name__
    names = []
    for name in (exc.filename, exc.filename2):
        if name is None:
            continue
        name = os.fsdecode(name)
        if root is not None and (name == str(root) or name.startswith(f"{root}/")):
            names.append(name[len(str(root)) + 1 :] or ".")
        elif "/" not in name:
            names.append(name)  # a bare name, e.g. a program that was not found
    return f"{reason}: {', '.join(names)}" if names else reason
