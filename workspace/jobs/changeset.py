"""The result of an agent job: per-file unified diffs of the scratch copy against the start snapshot."""

from __future__ import annotations

import difflib
from pathlib import Path

from workspace.jobs.snapshot import SnapshotFile, resolve_inside


def unified_diff(path: str, base: str, proposed: str) -> str:
    lines = difflib.unified_diff(
        base.splitlines(keepends=True),
        proposed.splitlines(keepends=True),
        fromfile=f"a/{path}" if base else "/dev/null",
        tofile=f"b/{path}",
    )
    # A last line without newline would glue onto the next header; mark it as diff(1) does.
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def build_changeset(snapshot: dict[str, SnapshotFile], root: Path, written: list[str]) -> list[dict]:
    """One entry per file the agent wrote whose content differs from the snapshot."""
    entries = []
    for path in sorted(set(written)):
        target = resolve_inside(root, path)
        if not target.is_file():
            continue
        proposed = target.read_text(encoding="utf-8", errors="replace")
        original = snapshot.get(path)
        base = original.text if original else ""
        if original is not None and proposed == base:
            continue
        entries.append(
            {
                "path": path,
                "file_id": original.file_id if original else None,
                "base": base,
                "proposed": proposed,
                "diff": unified_diff(path, base, proposed),
                "status": "modified" if original else "added",
                "apply": None,
            }
        )
    return entries
