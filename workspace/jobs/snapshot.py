"""The workspace as a job sees it: a snapshot of every file's text, materialised in a scratch directory."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from workspace.collab import store
from workspace.projects.models import FileNode


class PathOutsideWorkspace(ValueError):
    """A path that does not name a place inside the job's scratch copy."""


@dataclass(frozen=True)
class SnapshotFile:
    file_id: int
    path: str
    text: str


def take_snapshot(workspace_id: int) -> dict[str, SnapshotFile]:
    """Text of every file of the workspace now, keyed by path."""
    nodes = FileNode.objects.filter(workspace_id=workspace_id, is_folder=False).order_by("path")
    return {node.path: SnapshotFile(node.id, node.path, store.load_text(node.id)) for node in nodes}


def scratch_dir(job_id: int, attempt: int) -> Path:
    return Path(settings.SANDBOX_ROOT) / f"job-{job_id}-{attempt}"


def materialise(snapshot: dict[str, SnapshotFile], root: Path) -> Path:
    """Write the snapshot under `root` (emptied first); returns the resolved root."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    root = root.resolve()
    for item in snapshot.values():
        target = resolve_inside(root, item.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.text, encoding="utf-8")
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
