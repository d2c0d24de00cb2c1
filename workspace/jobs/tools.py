"""The tools the Deep agent may call, confined to the job's scratch copy of the workspace."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from workspace.jobs import sandbox
from workspace.jobs.snapshot import PathOutsideWorkspace, describe_os_error, hide_server_paths, resolve_inside

SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules", ".venv"}
MAX_LIST = 2000
MAX_SEARCH_HITS = 200

TOOL_SCHEMAS = [
    {
        "type": "function",
        "function": {
            "name": "list_files",
            "description": "List the files of the workspace (paths relative to its root).",
            "parameters": {
                "type": "object",
                "properties": {"prefix": {"type": "string", "description": "only paths starting with this"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the workspace.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search all files for a regular expression; returns path:line: text hits.",
            "parameters": {
                "type": "object",
                "properties": {"pattern": {"type": "string"}},
                "required": ["pattern"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Create or overwrite a file with the full new content. Changes are proposed for review.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "delete_file",
            "description": "Delete a file. The deletion is proposed for review like a write.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "move_file",
            "description": "Move or rename a file to a new path (which must not exist). Proposed for review.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "new_path": {"type": "string"}},
                "required": ["path", "new_path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_command",
            "description": "Run a shell command (tests, linters) in a sandbox at the workspace root; no network.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        },
    },
]


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model."""


class WorkspaceTools:
    def __init__(
        self,
        root: Path,
        should_stop: Callable[[], bool] | None = None,
        *,
        env: dict[str, str] | None = None,
        redact: Callable[[str], str] = str,
        hidden: tuple[str, ...] = (),
    ) -> None:
        """`env`: the project's variables for run_command; `redact` hides secret values from what the model reads;
        `hidden`: the project environment's installed paths (its setup cache), left out of listings and searches."""
        self.root = root
        self.should_stop = should_stop
        self.env = env or {}
        self.redact = redact
        self.hidden = tuple(hidden)
        self.written: list[str] = []
        self.deleted: list[str] = []
        # Where a moved file came from: its path now -> its path in the snapshot (or where it was first written).
        self.moved_from: dict[str, str] = {}
        self.last_command: sandbox.CommandResult | None = None

    def call(self, name: str, arguments: str | dict) -> str:
        """Run one tool call; returns the text the model receives. Raises ToolError for bad calls."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError as exc:
                raise ToolError(f"arguments are not valid JSON: {exc}") from exc
        if not isinstance(arguments, dict):
            raise ToolError("arguments must be a JSON object")
        method = getattr(self, f"tool_{name}", None)
        if method is None:
            raise ToolError(f"unknown tool {name!r}")
        try:
            # Whatever the model reads (a file the setup wrote, a command's output) shows no secret value.
            return self.redact(method(**arguments))
        except TypeError as exc:
            raise ToolError(f"bad arguments for {name}: {exc}") from exc
        except PathOutsideWorkspace as exc:
            raise ToolError(str(exc)) from exc
        except OSError as exc:  # e.g. writing below a file, or a name the file system refuses
            raise ToolError(f"{name} failed: {describe_os_error(exc, self.root)}") from exc

    def files(self) -> list[str]:
        paths = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in sorted(names):
                full = Path(folder) / name
                if full.is_symlink():
                    continue
                relative = str(full.relative_to(self.root))
                if not any(relative == h or relative.startswith(h + "/") for h in self.hidden):
                    paths.append(relative)
        return paths

    def tool_list_files(self, prefix: str = "") -> str:
        paths = [p for p in self.files() if p.startswith(prefix)]
        listing = "\n".join(paths[:MAX_LIST])
        return listing + (f"\n... {len(paths) - MAX_LIST} more" if len(paths) > MAX_LIST else "") or "(no files)"

    def tool_read_file(self, path: str) -> str:
        target = resolve_inside(self.root, path)
        if not target.is_file():
            raise ToolError(f"no such file: {path}")
        if target.stat().st_size > settings.JOB_MAX_FILE_BYTES:
            raise ToolError(f"{path} is larger than {settings.JOB_MAX_FILE_BYTES} bytes")
        return target.read_text(encoding="utf-8", errors="replace")

    def tool_search(self, pattern: str) -> str:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"invalid regular expression: {exc}") from exc
        hits: list[str] = []
        for path in self.files():
            full = self.root / path
            if full.stat().st_size > settings.JOB_MAX_FILE_BYTES:
                continue
            for number, line in enumerate(full.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{path}:{number}: {line[:300]}")
                    if len(hits) >= MAX_SEARCH_HITS:
                        return "\n".join(hits) + "\n... more hits omitted"
        return "\n".join(hits) or "(no matches)"

    def tool_write_file(self, path: str, content: str) -> str:
        target = resolve_inside(self.root, path)
        if len(content.encode("utf-8")) > settings.JOB_MAX_FILE_BYTES:
            raise ToolError(f"content larger than {settings.JOB_MAX_FILE_BYTES} bytes")
        if target.is_dir():
            raise ToolError(f"{path} is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(self.root, path)  # the parent chain may have been a symlink planted earlier
        target.write_text(content, encoding="utf-8")
        relative = str(target.relative_to(self.root))
        if relative not in self.written:
            self.written.append(relative)
        return f"wrote {relative} ({len(content)} characters)"

    def tool_delete_file(self, path: str) -> str:
        target = resolve_inside(self.root, path)
        if not target.is_file():
            raise ToolError(f"no such file: {path}")
        relative = str(target.relative_to(self.root))
        target.unlink()
        origin = self.moved_from.pop(relative, relative)
        if relative in self.written:
            self.written.remove(relative)
        if origin not in self.deleted:
            self.deleted.append(origin)
        return f"deleted {relative}"

    def tool_move_file(self, path: str, new_path: str) -> str:
        source = resolve_inside(self.root, path)
        target = resolve_inside(self.root, new_path)
        if not source.is_file():
            raise ToolError(f"no such file: {path}")
        if target.exists():
            raise ToolError(f"{new_path} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(self.root, new_path)  # the parent chain may have been a symlink planted earlier
        source.rename(target)
        old, new = str(source.relative_to(self.root)), str(target.relative_to(self.root))
        self.moved_from[new] = self.moved_from.pop(old, old)
        if old in self.written:
            self.written[self.written.index(old)] = new
        return f"moved {old} to {new}"

    def tool_run_command(self, command: str) -> str:
        result = sandbox.run_command(command, self.root, should_stop=self.should_stop, env=self.env)
        self.last_command = result
        return f"[{result.summary()}]\n{hide_server_paths(result.output, self.root)}"
