"""Map file names to Monaco language ids."""

from __future__ import annotations

EXTENSION_LANGUAGES = {
    "py": "python",
    "js": "javascript",
    "mjs": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "jsx": "javascript",
    "json": "json",
    "md": "markdown",
    "html": "html",
    "css": "css",
    "go": "go",
    "rs": "rust",
    "java": "java",
    "c": "c",
    "h": "c",
    "cpp": "cpp",
    "sh": "shell",
    "yml": "yaml",
    "yaml": "yaml",
    "toml": "ini",
    "sql": "sql",
    "rb": "ruby",
}


def language_for_path(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return "makefile" if name == "Makefile" else "plaintext"
    return EXTENSION_LANGUAGES.get(name.rsplit(".", 1)[-1].lower(), "plaintext")
