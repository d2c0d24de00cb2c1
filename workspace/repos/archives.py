"""Uploaded archives (zip, tar, tar.gz / .bz2 / .xz) read entry by entry, never unpacked onto disk.

Nothing an archive declares is trusted for a limit: the bytes actually unpacked are counted while they stream
(`Unpacked`), against the total (REPOS_MAX_TOTAL_BYTES) and against the compressed bytes they came from
(REPOS_MAX_COMPRESSION_RATIO, once more than `RATIO_GRACE_BYTES` are out, so a small file of zeros is fine while a
bomb stops early). A zip's central directory is counted record by record before `zipfile` builds an object per
entry (`count_zip_entries`), and a tar is read as a stream whose single reads are capped, so neither a huge
directory nor a huge tar header can take the worker's memory. Paths are judged later (`plan.py`); no entry is
ever written to the file system, so a name cannot escape anywhere.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

RATIO_GRACE_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# A single read of a tar stream larger than this is a header no real archive has (pax / GNU long names).
MAX_TAR_READ = 8 * 1024 * 1024
# What is read while listing: link targets and .gitignore files.
MAX_LINK_TARGET = 4096
MAX_IGNORE_FILE = 1024 * 1024


class ImportRefused(Exception):
    """The whole import is refused (a limit passed, a malformed or hostile archive); the message is for the user."""


@dataclass(frozen=True)
class Limits:
    archive_bytes: int
    files: int
    total_bytes: int
    file_bytes: int
    ratio: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            archive_bytes=settings.REPOS_MAX_ARCHIVE_BYTES,
            files=settings.REPOS_MAX_FILES,
            total_bytes=settings.REPOS_MAX_TOTAL_BYTES,
            file_bytes=settings.REPOS_MAX_FILE_BYTES,
            ratio=settings.REPOS_MAX_COMPRESSION_RATIO,
        )


FILE, FOLDER, SYMLINK, HARDLINK, OTHER = "file", "folder", "symlink", "hardlink", "other"
SUBMODULE = "submodule"  # a git tree's link to another repository's commit


@dataclass
class Entry:
    """One entry of an archive or repository tree, as listed (before any path rule is applied)."""

    name: str
    type: str
    # Declared by the archive (an upper bound the readers enforce) or, for git, the object's real size.
    size: int = 0
    # Symlink: its target, relative to the link's folder. Hard link (tar): the archive path it names.
    target: str = ""
    # Read while listing (a .gitignore file).
    data: bytes | None = None
    key: object = field(default=None, repr=False)


class Unpacked:
    """Bytes unpacked so far against the limits; `produced` from `consumed` compressed bytes."""

    def __init__(self, limits: Limits, what: str) -> None:
        self.limits = limits
        self.what = what
        self.produced = 0

    def add(self, count: int, consumed: int) -> None:
        self.produced += count
        if self.produced > self.limits.total_bytes:
            raise ImportRefused(
                f"{self.what} unpacks to more than {self.limits.total_bytes} bytes (REPOS_MAX_TOTAL_BYTES): refused"
            )
        check_ratio(self.produced, consumed, self.limits, self.what)


def check_ratio(produced: int, consumed: int, limits: Limits, what: str) -> None:
    if produced > RATIO_GRACE_BYTES and produced > limits.ratio * max(consumed, 1):
        raise ImportRefused(
            f"{what} unpacks more than {limits.ratio:g} times its compressed size (REPOS_MAX_COMPRESSION_RATIO): "
            "refused as a zip bomb"
        )


def open_archive(path: Path, limits: Limits) -> ZipArchive | TarArchive:
    """The archive at `path`, by its first bytes (not its name)."""
    size = path.stat().st_size
    if size > limits.archive_bytes:
        raise ImportRefused(
            f"The archive is {size} bytes; the limit is {limits.archive_bytes} (REPOS_MAX_ARCHIVE_BYTES)."
        )
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZipArchive(path, size, limits)
    for magic, compression in ((b"\x1f\x8b", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz")):
        if head.startswith(magic):
            return TarArchive(path, size, limits, compression)
    if len(head) == 512 and head[257:262] == b"ustar":
        return TarArchive(path, size, limits, "")
    raise ImportRefused("This is not a zip or tar archive (.zip, .tar, .tar.gz, .tar.bz2, .tar.xz).")


# --- zip ------------------------------------------------------------------------------------------------------


def count_zip_entries(path: Path, limit: int) -> int:
    """Count the records of a zip's central directory, as `zipfile` will parse them, refusing past `limit`.

    The end record's entry count is not trusted: the records are walked in the very bytes zipfile reads.
    """
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        tail_start = max(0, size - (22 + 65535))
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise ImportRefused("This zip archive has no central directory (truncated or not a zip).")
        cd_size, cd_offset = struct.unpack("<LL", tail[at + 12 : at + 20])
        end = tail_start + at
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator.startswith(b"PK\x06\x07") or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            if not locator.startswith(b"PK\x06\x07"):
                raise ImportRefused("This zip archive's directory is malformed.")
            (zip64_at,) = struct.unpack("<Q", locator[8:16])
            handle.seek(zip64_at)
            record = handle.read(56)
            if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
                raise ImportRefused("This zip archive's directory is malformed.")
            cd_size, cd_offset = struct.unpack("<QQ", record[40:56])
            end = zip64_at
        start = end - cd_size
        if start < 0 or cd_size > size:
            raise ImportRefused("This zip archive's directory is malformed.")
        handle.seek(start)
        count = 0
        remaining = cd_size
        buffer = b""
        while remaining > 0 or len(buffer) >= 46:
            if len(buffer) < 46 and remaining > 0:
                more = handle.read(min(remaining, CHUNK_BYTES))
                if not more:
                    break
                remaining -= len(more)
                buffer += more
                continue
            if not buffer.startswith(b"PK\x01\x02"):
                break  # zipfile stops here too (it raises on a bad record)
            name_len, extra_len, comment_len = struct.unpack("<HHH", buffer[28:34])
            record_len = 46 + name_len + extra_len + comment_len
            count += 1
            if count > limit:
                raise ImportRefused(f"The archive has more than {limit} entries (REPOS_MAX_FILES): refused.")
            while len(buffer) < record_len and remaining > 0:
                more = handle.read(min(remaining, CHUNK_BYTES))
                if not more:
                    break
                remaining -= len(more)
                buffer += more
            buffer = buffer[record_len:]
        return count


class ZipArchive:
    def __init__(self, path: Path, size: int, limits: Limits) -> None:
        self.path = path
        self.size = size
        self.limits = limits
        # Files and folders are both listed: at most REPOS_MAX_FILES of each.
        count_zip_entries(path, 2 * limits.files)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise ImportRefused(f"This zip archive cannot be read: {exc}") from exc

    def close(self) -> None:
        self.zip.close()

    def list(self, read_now: Iterable[str] = ()) -> list[Entry]:
        entries: list[Entry] = []
        files = 0
        for info in self.zip.infolist():
            mode = info.external_attr >> 16
            if info.is_dir():
                kind = FOLDER
            elif info.create_system == 3 and stat.S_ISLNK(mode):
                kind = SYMLINK
            elif info.create_system == 3 and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                kind = OTHER
            else:
                kind = FILE
            if kind != FOLDER:
                files += 1
                if files > self.limits.files:
                    raise ImportRefused(f"The archive has more than {self.limits.files} files (REPOS_MAX_FILES).")
            entry = Entry(info.filename, kind, info.file_size, key=info)
            if kind == SYMLINK:
                entry.target = self._read(info, MAX_LINK_TARGET).decode("utf-8", "replace")
            elif kind == FILE and entry.name.rsplit("/", 1)[-1] in read_now and info.file_size <= MAX_IGNORE_FILE:
                entry.data = self._read(info, MAX_IGNORE_FILE)
            entries.append(entry)
        return entries

    def read(self, entries: Iterable[Entry]) -> Iterator[tuple[Entry, bytes]]:
        """The data of `entries` (each at most REPOS_MAX_FILE_BYTES as declared), in archive order."""
        unpacked = Unpacked(self.limits, "The archive")
        for entry in sorted(entries, key=lambda e: e.key.header_offset):
            info: zipfile.ZipInfo = entry.key
            yield entry, self._read(info, self.limits.file_bytes, unpacked)

    def _read(self, info: zipfile.ZipInfo, limit: int, unpacked: Unpacked | None = None) -> bytes:
        if info.file_size > limit:
            raise ImportRefused(f"{info.filename} is larger than {limit} bytes.")
        check_ratio(info.file_size, info.compress_size, self.limits, info.filename)
        parts: list[bytes] = []
        produced = 0
        try:
            with self.zip.open(info) as stream:
                while chunk := stream.read(CHUNK_BYTES):
                    produced += len(chunk)
                    parts.append(chunk)
                    # zipfile stops at the declared size (and checks the CRC); these hold whatever it declares.
                    check_ratio(produced, info.compress_size, self.limits, info.filename)
                    if unpacked is not None:
                        unpacked.add(len(chunk), self.size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise ImportRefused(f"{info.filename} cannot be read from the archive: {exc}") from exc
        return b"".join(parts)


# --- tar ------------------------------------------------------------------------------------------------------


class _Decompressor:
    """One interface over zlib (gzip), bz2 and lzma streams, with bounded output per call; concatenated
    members/streams (gzip -c a b) are read one after the other."""

    def __init__(self, compression: str) -> None:
        self.compression = compression
        self.pending = b""
        self.stream = self._new()

    def _new(self):
        if self.compression == "gz":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.compression == "bz2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor()

    def wants_input(self) -> bool:
        if self.pending:
            return False
        return self.stream.eof or self.compression == "gz" or self.stream.needs_input

    def feed(self, data: bytes, max_out: int) -> bytes:
        self.pending += data
        if self.stream.eof:
            if not self.pending.strip(b"\x00"):  # the end, or zero padding after it
                self.pending = b""
                return b""
            self.stream = self._new()
        out = self.stream.decompress(self.pending, max_out)
        # zlib hands back what it did not take; bz2 and lzma keep it and want b"" until needs_input.
        self.pending = self.stream.unconsumed_tail if self.compression == "gz" else b""
        if self.stream.eof:
            self.pending = self.stream.unused_data + self.pending
        return out


class _TarStream(io.RawIOBase):
    """The decompressed tar stream, forward-only (tarfile's seeks are forward in order), counted as it goes."""

    def __init__(self, raw, compression: str, unpacked: Unpacked) -> None:
        self.raw = raw
        self.decompressor = _Decompressor(compression) if compression else None
        self.unpacked = unpacked
        self.position = 0
        self.consumed = 0
        self.buffer = b""
        self.raw_eof = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.position + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self.position:
            raise OSError("the archive is read as a stream: it cannot go back")
        while self.position < target:
            if not self.read(min(target - self.position, CHUNK_BYTES)):
                break
        return self.position

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_TAR_READ:
            raise ImportRefused("The tar archive has a header larger than any real archive's: refused.")
        while len(self.buffer) < size and not self._exhausted():
            self._fill(size - len(self.buffer))
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        self.position += len(out)
        return out

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def _exhausted(self) -> bool:
        return self.raw_eof and (self.decompressor is None or self.decompressor.wants_input())

    def _fill(self, wanted: int) -> None:
        data = b""
        if self.decompressor is None or self.decompressor.wants_input():
            data = self.raw.read(CHUNK_BYTES)
            self.consumed += len(data)
            if not data:
                self.raw_eof = True
                return
        if self.decompressor is None:
            out = data
        else:
            try:
                out = self.decompressor.feed(data, max(wanted, 64 * 1024))
            except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
                raise ImportRefused(f"The archive cannot be decompressed: {exc}") from exc
        self.buffer += out
        self.unpacked.add(len(out), self.consumed)


class TarArchive:
    def __init__(self, path: Path, size: int, limits: Limits, compression: str) -> None:
        self.path = path
        self.size = size
        self.limits = limits
        self.compression = compression

    def close(self) -> None:
        pass

    def _members(self) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
        """The members in order, each while the stream stands at its data (one pass over the archive)."""
        with open(self.path, "rb") as raw:
            stream = _TarStream(raw, self.compression, Unpacked(self.limits, "The archive"))
            try:
                with tarfile.open(fileobj=stream, mode="r:") as tar:
                    files = folders = 0
                    while (member := tar.next()) is not None:
                        if member.isdir():
                            folders += 1
                        else:
                            files += 1
                        if files > self.limits.files or folders > self.limits.files:
                            raise ImportRefused(
                                f"The archive has more than {self.limits.files} entries (REPOS_MAX_FILES)."
                            )
                        yield tar, member
            except tarfile.TarError as exc:
                raise ImportRefused(f"This tar archive cannot be read: {exc}") from exc

    def list(self, read_now: Iterable[str] = ()) -> list[Entry]:
        read_now = set(read_now)
        entries: list[Entry] = []
        for index, (tar, member) in enumerate(self._members()):
            if member.isdir():
                kind = FOLDER
            elif member.issym():
                kind = SYMLINK
            elif member.islnk():
                kind = HARDLINK
            elif member.isreg():
                kind = FILE
            else:
                kind = OTHER
            entry = Entry(member.name, kind, member.size, target=member.linkname, key=index)
            if kind == FILE and member.name.rsplit("/", 1)[-1] in read_now and member.size <= MAX_IGNORE_FILE:
                entry.data = self._read(tar, member, MAX_IGNORE_FILE)
            entries.append(entry)
        return entries

    def read(self, entries: Iterable[Entry]) -> Iterator[tuple[Entry, bytes]]:
        wanted = {entry.key: entry for entry in entries}
        if not wanted:
            return
        last = max(wanted)
        for index, (tar, member) in enumerate(self._members()):
            entry = wanted.get(index)
            if entry is not None:
                yield entry, self._read(tar, member, self.limits.file_bytes)
            if index >= last:
                return

    def _read(self, tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
        if member.size > limit:
            raise ImportRefused(f"{member.name} is larger than {limit} bytes.")
        handle = tar.extractfile(member)
        if handle is None:
            return b""
        parts = []
        while chunk := handle.read(CHUNK_BYTES):
            parts.append(chunk)
        return b"".join(parts)
