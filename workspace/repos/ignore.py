"""`.gitignore` rules of an uploaded tree, with git's semantics, through `pathspec` (gitwildmatch).

Every `.gitignore` of the tree applies to the paths below its folder; the deepest file with a pattern matching a
path decides (its last matching pattern, `!` negations included), and a folder that is ignored hides everything
below it, which no pattern can bring back (as in git).
"""

from __future__ import annotations

from collections.abc import Mapping

from pathspec import GitIgnoreSpec

IGNORE_FILE = ".gitignore"


class IgnoreRules:
    def __init__(self, files: Mapping[str, bytes]) -> None:
        """`files`: the content of each `.gitignore`, by its folder ("" for the root)."""
        self.specs = {
            folder: GitIgnoreSpec.from_lines(content.decode("utf-8", "replace").splitlines())
            for folder, content in files.items()
        }
        self._folders: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.specs)

    def ignored(self, path: str, is_folder: bool = False) -> str | None:
        """The ignored folder hiding `path` (with a trailing "/"), `path` itself when it is ignored, or None."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if self._folder_ignored(folder):
                return folder + "/"
        if is_folder:
            return path + "/" if self._folder_ignored(path) else None
        return path if self._match(path, False) else None

    def _folder_ignored(self, folder: str) -> bool:
        if folder not in self._folders:
            self._folders[folder] = self._match(folder, True)
        return self._folders[folder]

    def _match(self, path: str, is_folder: bool) -> bool:
        parts = path.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            spec = self.specs.get("/".join(parts[:depth]))
            if spec is None:
                continue
            relative = "/".join(parts[depth:]) + ("/" if is_folder else "")
            include = spec.check_file(relative).include
            if include is not None:
                return include
        return False
