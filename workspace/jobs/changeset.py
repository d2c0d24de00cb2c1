"""The result of an agent job: per-file unified diffs of the scratch copy against the start snapshot.

An entry's `status` is "added", "modified", "renamed" (`from_path` says from where; its content may have changed
too) or "deleted" (`proposed` is empty).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from workspace.jobs.snapshot import SnapshotFile, resolve_inside


def unified_diff(path: str, base: str, proposed: str, *, from_path: str | None = None, deleted: bool = False) -> str:
    lines = difflib.unified_diff(
        base.splitlines(keepends=True),
        proposed.splitlines(keepends=True),
        fromfile=f"a/{from_path or path}" if base or from_path else "/dev/null",
        tofile="/dev/null" if deleted else f"b/{path}",
    )
    # A last line without newline would glue onto the next header; mark it as diff(1) does.
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _entry(path: str, original: SnapshotFile | None, proposed: str, status: str, from_path: str | None) -> dict:
    base = original.text if original else ""
    return {
        "path": path,
        "from_path": from_path,
        "file_id": original.file_id if original else None,
        "base": base,
        "proposed": proposed,
        "diff": unified_diff(path, base, proposed, from_path=from_path, deleted=status == "deleted"),
        "status": status,
        "apply": None,
    }


def build_changeset(
    snapshot: dict[str, SnapshotFile],
    root: Path,
    written: Iterable[str],
    moved_from: dict[str, str] | None = None,
    deleted: Iterable[str] = (),
) -> list[dict]:
    """One entry per file the agent wrote, moved or deleted whose state differs from the snapshot.

    `moved_from` maps a moved file's path now to its path in the snapshot; `deleted` lists snapshot paths deleted.
    """
    moved_from = moved_from or {}
    entries = []
    renamed_origins: set[str] = set()
    for path in sorted(set(written) | set(moved_from)):
        target = resolve_inside(root, path)
        if not target.is_file():
            continue
        proposed = target.read_text(encoding="utf-8", errors="replace")
        origin = moved_from.get(path)
        if origin and origin != path and origin in snapshot and not resolve_inside(root, origin).exists():
            renamed_origins.add(origin)
            entries.append(_entry(path, snapshot[origin], proposed, "renamed", origin))
            continue
        original = snapshot.get(path)
        if original is not None and proposed == original.text:
            continue
        entries.append(_entry(path, original, proposed, "modified" if original else "added", None))
    for path in sorted(set(deleted) | set(moved_from.values())):
        if path in snapshot and path not in renamed_origins and not resolve_inside(root, path).exists():
            entries.append(_entry(path, snapshot[path], "", "deleted", None))
    return sorted(entries, key=lambda entry: entry["path"])
