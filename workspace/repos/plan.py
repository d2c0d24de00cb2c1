"""What an import takes from a listed archive or tree: the workspace path of each entry, or why it is skipped.

Pure functions over the listing (no I/O). The rules, in order: `.git/` metadata is left out; a path leading
outside the tree (absolute, `..`: zip-slip) is refused; every other path goes through the same validation as a
file created by hand (`projects.services.normalise_path`); `.gitignore`d paths are left out (archives only: a
clone imports what its commit tracks, as `git checkout` would); special files, duplicates, clashes between a
file and a folder, paths that exist in the workspace, and files over REPOS_MAX_FILE_BYTES are skipped. A
symbolic link to a file inside the tree is imported as a copy of that file; one pointing outside is refused.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from workspace.projects.services import FileTreeError, normalise_path
from workspace.repos.archives import FILE, FOLDER, HARDLINK, SUBMODULE, SYMLINK, Entry, Limits
from workspace.repos.ignore import IGNORE_FILE, IgnoreRules

MAX_LINK_HOPS = 16
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class Planned:
    entry: Entry
    # Workspace paths to create with the entry's data: its own, then in-tree symlinks to it.
    paths: list[str]


@dataclass
class Plan:
    files: list[Planned] = field(default_factory=list)
    # Folders the archive lists (kept even when empty), as workspace paths.
    folders: list[str] = field(default_factory=list)
    # (path, reason) per skipped entry, or per skipped folder with how many entries it held.
    skipped: list[dict] = field(default_factory=list)

    @property
    def file_count(self) -> int:
        return sum(len(item.paths) for item in self.files)


def clean_name(name: str) -> str:
    """An archive name without the `./` prefixes and trailing `/` tar and zip tools add."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def leads_outside(name: str) -> bool:
    return name.startswith("/") or bool(_DRIVE.match(name)) or ".." in name.split("/")


def is_git_metadata(name: str) -> bool:
    return any(part.lower() == ".git" for part in name.split("/"))


def ignore_files(entries: list[Entry]) -> dict[str, bytes]:
    """The `.gitignore` contents read while listing, by folder (archive names)."""
    found: dict[str, bytes] = {}
    for entry in entries:
        name = clean_name(entry.name)
        if entry.type == FILE and entry.data is not None and posixpath.basename(name) == IGNORE_FILE:
            if not leads_outside(name) and not is_git_metadata(name):
                found.setdefault(posixpath.dirname(name), entry.data)
    return found


def make_plan(
    entries: list[Entry],
    *,
    limits: Limits,
    existing: Mapping[str, bool],
    into: str = "",
    use_gitignore: bool = True,
) -> Plan:
    plan = Plan()
    rules = IgnoreRules(ignore_files(entries)) if use_gitignore else IgnoreRules({})
    grouped: dict[tuple[str, str], int] = {}

    def skip(path: str, reason: str) -> None:
        plan.skipped.append({"path": path, "reason": reason})

    def skip_under(folder: str, reason: str) -> None:
        grouped[(folder, reason)] = grouped.get((folder, reason), 0) + 1

    files: dict[str, Entry] = {}  # archive name -> entry, for regular files that passed
    links: dict[str, Entry] = {}
    folders: set[str] = set()
    workspace_path: dict[str, str] = {}
    for entry in entries:
        name = clean_name(entry.name)
        if not name:
            continue
        if leads_outside(name) or (entry.type == HARDLINK and leads_outside(clean_name(entry.target))):
            skip(entry.name, "refused: the path leads outside the tree (zip-slip)")
            continue
        if is_git_metadata(name):
            parts = name.split("/")
            cut = next(i for i, part in enumerate(parts) if part.lower() == ".git")
            skip_under("/".join(parts[: cut + 1]) + "/", "git metadata (.git/) is not imported")
            continue
        if rules:
            hidden = rules.ignored(name, entry.type == FOLDER)
            if hidden is not None:
                if hidden.endswith("/"):
                    skip_under(hidden, "ignored by .gitignore")
                else:
                    skip(name, "ignored by .gitignore")
                continue
        try:
            path = normalise_path(f"{into}/{name}" if into else name)
        except FileTreeError as exc:
            skip(entry.name, str(exc))
            continue
        if entry.type == FOLDER:
            folders.add(name)
            workspace_path[name] = path
            continue
        if entry.type == SUBMODULE:
            skip(name, "a git submodule (its repository is not cloned)")
            continue
        if entry.type not in (FILE, SYMLINK, HARDLINK):
            skip(name, "not a regular file (device, pipe or socket)")
            continue
        if name in files or name in links:
            skip(name, "a duplicate entry of the archive (the first one is imported)")
            continue
        if entry.type == FILE and entry.size > limits.file_bytes:
            skip(name, f"too large: {entry.size} bytes; the limit is {limits.file_bytes} (REPOS_MAX_FILE_BYTES)")
            continue
        workspace_path[name] = path
        (files if entry.type == FILE else links)[name] = entry

    # Every folder some kept path needs, as archive names.
    needed = set(folders)
    for name in [*files, *links]:
        parts = name.split("/")[:-1]
        needed.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    for name in sorted(set(files) & needed):
        skip(name, "is also a folder in the archive (the folder is imported)")
        del files[name]
    for name in sorted(set(links) & needed):
        skip(name, "is also a folder in the archive (the folder is imported)")
        del links[name]

    planned = {name: Planned(entry, [workspace_path[name]]) for name, entry in files.items()}
    for name, entry in links.items():
        target, reason = _resolve(name, entry, files, links, needed)
        if target is None:
            skip(name, reason)
        else:
            planned[target].paths.append(workspace_path[name])

    # What the workspace has already: an existing path is never overwritten.
    for item in planned.values():
        kept = []
        for path in item.paths:
            clash = clash_with(path, existing)
            if clash:
                skip(path, clash)
            else:
                kept.append(path)
        item.paths = kept
    plan.files = [item for item in planned.values() if item.paths]
    for name in sorted(folders):
        clash = clash_with(workspace_path[name], existing, is_folder=True)
        if clash:
            skip(workspace_path[name], clash)
        else:
            plan.folders.append(workspace_path[name])
    for (folder, reason), count in sorted(grouped.items()):
        plan.skipped.append({"path": folder, "reason": reason, "entries": count})
    return plan


def _resolve(
    name: str, entry: Entry, files: Mapping[str, Entry], links: Mapping[str, Entry], folders: set[str]
) -> tuple[str | None, str]:
    """The archive name of the regular file a link leads to, or None and why it is not imported."""
    current, link = name, entry
    for _ in range(MAX_LINK_HOPS):
        raw = link.target.replace("\\", "/")
        if link.type == HARDLINK:  # tar hard links name an archive path
            target = posixpath.normpath(clean_name(raw)) if raw else ""
        else:
            if raw.startswith("/") or _DRIVE.match(raw):
                return None, f"refused: a symbolic link pointing outside the tree ({link.target})"
            target = posixpath.normpath(posixpath.join(posixpath.dirname(current), raw))
        if not target or target == "." or target == ".." or target.startswith("../"):
            return None, f"refused: a symbolic link pointing outside the tree ({link.target})"
        if target in files:
            return target, ""
        if target in folders:
            return None, f"a symbolic link to a folder ({link.target}) is not imported"
        if target not in links:
            return None, f"a link to {target}, which is not imported"
        current, link = target, links[target]
    return None, "a chain of symbolic links too long to follow"


def clash_with(path: str, existing: Mapping[str, bool], is_folder: bool = False) -> str:
    if path in existing:
        if is_folder and existing[path]:
            return ""
        return "already exists in the workspace (not overwritten)"
    parts = path.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if existing.get(folder) is False:
            return f"{folder!r} is a file in the workspace"
    return ""
