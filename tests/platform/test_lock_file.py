"""requirements.lock (made by `make lock`) agrees with the hand-edited top-level pins of requirements.txt."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\#]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_pins(text: str) -> dict[str, str]:
    """name -> version of each `name[extras]==version` line (comments and blank lines skipped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"requirements.txt: not an exact pin: {line!r}"
        pins[canonical(match[1])] = match[3]
    return pins


@dataclass
class LockEntry:
    name: str
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def lock_entries(text: str) -> list[LockEntry]:
    """The lock's requirements, each with its hash count and its `# via` annotations (uv / pip-compile format)."""
    entries: list[LockEntry] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or (not line[0].isspace() and stripped.startswith("#")):
            continue
        if not line[0].isspace():
            match = PIN.match(stripped)
            assert match, f"requirements.lock: not an exact pin: {stripped!r}"
            entries.append(LockEntry(canonical(match[1]), match[3]))
        elif stripped.startswith("--hash=sha256:"):
            entries[-1].hashes += 1
        elif stripped.startswith("#"):
            via = stripped.lstrip("#").strip().removeprefix("via").strip()
            if via:
                entries[-1].via.append(via)
    return entries


def disagreements(requirements: str, lock: str) -> list[str]:
    pins = top_level_pins(requirements)
    entries = lock_entries(lock)
    problems = []
    locked: dict[str, set[str]] = {}
    for entry in entries:
        locked.setdefault(entry.name, set()).add(entry.version)
        if entry.hashes == 0:
            problems.append(f"{entry.name}=={entry.version} has no hash")
        if "-r requirements.txt" in entry.via and entry.name not in pins:
            problems.append(f"{entry.name} is locked as a top-level requirement that requirements.txt no longer has")
    for name, version in pins.items():
        if name not in locked:
            problems.append(f"{name}=={version} is missing from the lock")
        elif locked[name] != {version}:
            problems.append(f"{name}=={version} is locked as {', '.join(sorted(locked[name]))}")
    return problems


def test_every_top_level_pin_is_in_the_lock_with_the_same_version_and_every_entry_is_hashed():
    problems = disagreements((ROOT / "requirements.txt").read_text(), (ROOT / "requirements.lock").read_text())
    assert not problems, "requirements.lock is out of date (run `make lock`): " + "; ".join(problems)


def test_the_check_reports_a_changed_pin_a_new_pin_a_removed_pin_and_a_missing_hash():
    requirements = "celery[redis]==5.7.1\nredis==8.1.0  # comment\nnewpkg==1.0\n"
    lock = (
        "# header\n"
        "celery==5.7.0 \\\n    --hash=sha256:aa\n    # via -r requirements.txt\n"
        "redis==8.1.0 \\\n    --hash=sha256:bb\n    # via\n    #   -r requirements.txt\n    #   kombu\n"
        "gone==2.0 \\\n    --hash=sha256:cc\n    # via -r requirements.txt\n"
        "vine==5.1.0\n    # via kombu\n"
    )
    assert disagreements(requirements, lock) == [
        "gone is locked as a top-level requirement that requirements.txt no longer has",
        "vine==5.1.0 has no hash",
        "celery==5.7.1 is locked as 5.7.0",
        "newpkg==1.0 is missing from the lock",
    ]
