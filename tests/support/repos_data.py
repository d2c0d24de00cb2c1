"""Real archives and git repositories built for the import / export tests (no network)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

# The smallest valid PNG (1x1, red): a binary file with a known image type.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
FONT = b"\x00\x01\x00\x00\x00\x0f\x00\x80\x00\x03\x00p" + bytes(range(256))  # a TrueType-like header: NULs

# A small project: text, binary, nested folders, an empty folder, and .gitignore rules (root and nested, with a
# negation) that leave some paths out.
PROJECT: dict[str, bytes | None] = {
    "README.md": b"# Demo\n",
    "src/app.py": b"print('hello')\n",
    "src/pkg/__init__.py": b"",
    "src/pkg/util.py": "def f():\n    return '\u00e9\u20ac'\n".encode(),
    "assets/logo.png": PNG,
    "assets/font.ttf": FONT,
    "docs/": None,  # an empty folder
    ".gitignore": b"*.log\nbuild/\n!keep.log\n",
    "debug.log": b"noise\n",
    "keep.log": b"kept by the negation\n",
    "build/out.js": b"generated\n",
    "src/.gitignore": b"*.tmp\n",
    "src/scratch.tmp": b"scratch\n",
    "src/more/scratch.tmp": b"scratch too\n",
    ".git/config": b"[core]\n",
    ".git/objects/ab/cdef": b"\x78\x9c",
}
# What an import of PROJECT keeps (path -> bytes; None: a folder).
IMPORTED = {
    "README.md": b"# Demo\n",
    "src/app.py": b"print('hello')\n",
    "src/pkg/__init__.py": b"",
    "src/pkg/util.py": PROJECT["src/pkg/util.py"],
    "assets/logo.png": PNG,
    "assets/font.ttf": FONT,
    ".gitignore": PROJECT[".gitignore"],
    "keep.log": b"kept by the negation\n",
    "src/.gitignore": b"*.tmp\n",
}


def zip_bytes(files: dict[str, bytes | None], *, links: dict[str, str] | None = None, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in files.items():
            if data is None:
                archive.writestr(zipfile.ZipInfo(name if name.endswith("/") else name + "/"), b"")
            else:
                archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_bytes(
    files: dict[str, bytes | None],
    *,
    compression: str = "gz",
    links: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
    prefix: str = "",
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}" if compression else "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name.rstrip("/"))
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(prefix + name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
        for name, target in (hardlinks or {}).items():
            info = tarfile.TarInfo(prefix + name)
            info.type, info.linkname = tarfile.LNKTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def raw_zip_with_stored_name(name: bytes, data: bytes) -> bytes:
    """A zip whose entry name is exactly `name` (zipfile itself would not write some of these)."""
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0, 0, 0, 0, 0, 0
    )
    body = local + name + data
    directory = central + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(cwd or Path.cwd()),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return result.stdout


def make_repository(root: Path, commits: list[dict[str, bytes]], *, branch: str = "main") -> Path:
    """A bare repository at root/origin.git whose `branch` has one commit per dict (path -> bytes; b"" deletes
    nothing: every commit writes its files on top of the previous ones). Returns the bare repository's path."""
    work = root / "work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", branch, cwd=work)
    for number, files in enumerate(commits, 1):
        for path, data in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"commit {number}", cwd=work)
    bare = root / "origin.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return bare
