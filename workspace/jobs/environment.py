"""A job's project environment: sparkroom.toml, the owner's secrets and settings, and the cached setup phase.

Two phases, like hosted coding agents:
- setup (the toml's [setup] command, e.g. a dependency install): runs in the sandbox with the [env] variables and the
  workspace's secrets, with network access only when the owner allows it (EnvironmentSettings.setup_network). What it
  produces ([setup] cache paths) is kept under SANDBOX_ROOT/environments/ws-<id>/<key>, the key hashing everything
  that decides the result: the command, the [setup] inputs' contents (lock and requirement files), [env], the
  secrets and the network choice. A later job with the same key copies it in and skips the setup.
- commands (tests, lint, the agent's run_command): the [env] variables only, never the network nor the secrets.

Secret values never leave the server: not shown back by the API, and replaced by `[secret NAME]` in everything a job
writes to its log, result or error (`Redactor`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from workspace.collab import store
from workspace.jobs import sandbox
from workspace.jobs.agent import JobCancelled
from workspace.jobs.envconfig import ENV_NAME, FILE_NAME, RESERVED_ENV, EnvironmentFileError, ProjectEnvironment, parse
from workspace.jobs.models import EnvironmentSettings, WorkspaceSecret
from workspace.jobs.snapshot import SnapshotFile, resolve_inside
from workspace.projects.models import FileNode

logger = logging.getLogger(__name__)
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 4096
MAX_SECRETS = 50
COMPLETE_MARK = ".sparkroom-setup.json"


class SetupFailed(Exception):
    """The setup phase did not succeed; the message (redacted) says why."""


# --- the owner's settings and secrets ----------------------------------------------------------------------


def settings_for(workspace_id: int) -> EnvironmentSettings:
    found = EnvironmentSettings.objects.filter(workspace_id=workspace_id).first()
    return found or EnvironmentSettings(workspace_id=workspace_id)


def set_setup_network(workspace_id: int, allowed: bool) -> EnvironmentSettings:
    chosen, _ = EnvironmentSettings.objects.update_or_create(
        workspace_id=workspace_id, defaults={"setup_network": allowed}
    )
    return chosen


def list_secrets(workspace_id: int) -> list[dict]:
    """Names and dates only: a value is never shown back."""
    secrets = WorkspaceSecret.objects.filter(workspace_id=workspace_id).select_related("updated_by")
    return [
        {"name": s.name, "updated_at": s.updated_at.isoformat(), "updated_by": getattr(s.updated_by, "username", None)}
        for s in secrets
    ]


def set_secret(workspace_id: int, name: str, value: str, user: AbstractBaseUser) -> None:
    """Create or replace a secret; raises ValueError with the reason for a bad name or value."""
    if not ENV_NAME.match(name) or name in RESERVED_ENV:
        raise ValueError(f"{name!r} is not a usable variable name (letters, digits and _, not HOME/PWD/TMPDIR)")
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
        raise ValueError(
            f"A secret's value must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters "
            "(a shorter one could not be told apart in the logs it is hidden from)."
        )
    if "\x00" in value:
        raise ValueError("A secret's value cannot contain a NUL character.")
    exists = WorkspaceSecret.objects.filter(workspace_id=workspace_id, name=name).exists()
    if not exists and WorkspaceSecret.objects.filter(workspace_id=workspace_id).count() >= MAX_SECRETS:
        raise ValueError(f"A workspace holds at most {MAX_SECRETS} secrets.")
    WorkspaceSecret.objects.update_or_create(
        workspace_id=workspace_id, name=name, defaults={"value": value, "updated_by": user}
    )


def delete_secret(workspace_id: int, name: str) -> bool:
    deleted, _ = WorkspaceSecret.objects.filter(workspace_id=workspace_id, name=name).delete()
    return bool(deleted)


def secret_values(workspace_id: int) -> dict[str, str]:
    return dict(WorkspaceSecret.objects.filter(workspace_id=workspace_id).values_list("name", "value"))


class Redactor:
    """Replaces every secret value in a text by `[secret NAME]` (longest first, so no value is left half-shown)."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.pairs = sorted(((v, n) for n, v in secrets.items() if v), key=lambda pair: len(pair[0]), reverse=True)

    def __call__(self, text: str) -> str:
        for value, name in self.pairs:
            text = text.replace(value, f"[secret {name}]")
        return text


# --- reading the environment file --------------------------------------------------------------------------


def load(snapshot: dict[str, SnapshotFile]) -> ProjectEnvironment:
    """The project's environment, from sparkroom.toml in the snapshot (defaults when there is none)."""
    found = snapshot.get(FILE_NAME)
    return parse(found.text) if found else ProjectEnvironment()


def file_state(workspace_id: int) -> dict:
    """Whether the live workspace has a sparkroom.toml, its problems (empty when it is valid) and, when valid, what it
    sets up: the setup command, the test/lint commands and the run commands per language (for a Run button)."""
    node = FileNode.objects.filter(workspace_id=workspace_id, path=FILE_NAME, is_folder=False).first()
    state: dict = {"path": FILE_NAME, "present": node is not None, "problems": []}
    if node is None:
        return state
    try:
        project = parse(store.load_text(node.id))
    except EnvironmentFileError as exc:
        return {**state, "problems": exc.problems}
    return {**state, "setup": project.setup_command, "commands": project.commands, "run": project.run}


# --- the setup phase and its cache -------------------------------------------------------------------------


@dataclass
class PreparedEnvironment:
    """What the command phase of a job runs with."""

    project: ProjectEnvironment
    env: dict[str, str] = field(default_factory=dict)
    redact: Callable[[str], str] = str
    setup: str = "none"  # "none", "cached" or "ran"
    setup_seconds: float = 0.0


def cache_key(project: ProjectEnvironment, snapshot: dict[str, SnapshotFile], secrets: dict, network: bool) -> str:
    digest = hashlib.sha256()
    fixed = {
        "command": project.setup_command,
        "cache": project.setup_cache,
        "env": sorted(project.env.items()),
        "network": network,
        "secrets": sorted((n, hashlib.sha256(v.encode()).hexdigest()) for n, v in secrets.items()),
    }
    digest.update(json.dumps(fixed, sort_keys=True).encode())
    for path in sorted(p for p in snapshot if any(fnmatch.fnmatchcase(p, pattern) for pattern in project.setup_inputs)):
        digest.update(f"\0{path}\0".encode() + snapshot[path].text.encode("utf-8"))
    return digest.hexdigest()[:32]


def cache_root(workspace_id: int) -> Path:
    return Path(settings.SANDBOX_ROOT) / "environments" / f"ws-{workspace_id}"


def _copy_paths(source: Path, target: Path, paths: tuple[str, ...]) -> None:
    for relative in paths:
        origin = source / relative
        if not origin.exists() or origin.is_symlink():
            continue
        destination = resolve_inside(target, relative)
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        elif destination.exists() or destination.is_symlink():
            destination.unlink()
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, symlinks=True)
        else:
            shutil.copy2(origin, destination)


def _store(root: Path, workspace_id: int, key: str, project: ProjectEnvironment) -> None:
    """Keep what the setup produced, atomically (a half-written cache is never used), and drop older keys."""
    home = cache_root(workspace_id)
    home.mkdir(parents=True, exist_ok=True)
    building = home / f".building-{key}-{time.monotonic_ns()}"
    try:
        _copy_paths(root, building, project.setup_cache)
        building.mkdir(exist_ok=True)
        (building / COMPLETE_MARK).write_text(json.dumps({"key": key, "at": time.time()}))
        building.rename(home / key)
    except OSError as exc:  # e.g. another job stored the same key first
        logger.info("setup cache of workspace %s not stored: %s", workspace_id, exc)
        shutil.rmtree(building, ignore_errors=True)
    for old in home.iterdir():
        if old.name != key and not old.name.startswith(".building-"):
            shutil.rmtree(old, ignore_errors=True)


def prepare(
    workspace_id: int,
    snapshot: dict[str, SnapshotFile],
    root: Path,
    event: Callable[[str, str, dict | None], None],
    should_stop: Callable[[], bool] | None = None,
    redact: Redactor | None = None,
) -> PreparedEnvironment:
    """Read sparkroom.toml, then run the setup phase in `root` or reuse its cached result.

    Raises EnvironmentFileError (invalid file), SetupFailed or JobCancelled."""
    project = load(snapshot)
    secrets = secret_values(workspace_id)
    redact = redact or Redactor(secrets)
    prepared = PreparedEnvironment(project, dict(project.env), redact)
    if not project.setup_command:
        return prepared
    overlapping = sorted(c for c in project.setup_cache if any(p == c or p.startswith(c + "/") for p in snapshot))
    if overlapping:  # a cached copy would overwrite the workspace's own files with stale ones
        raise SetupFailed(
            f"[setup] cache paths must hold only what the setup produces, not workspace files: {', '.join(overlapping)}"
        )
    network = settings_for(workspace_id).setup_network
    key = cache_key(project, snapshot, secrets, network)
    started = time.monotonic()
    cached = cache_root(workspace_id) / key
    if (cached / COMPLETE_MARK).is_file():
        _copy_paths(cached, root, project.setup_cache)
        prepared.setup, prepared.setup_seconds = "cached", time.monotonic() - started
        event("status", f"setup: reused the cached environment ({prepared.setup_seconds:.2f} s)", {"setup": "cached"})
        return prepared
    event("tool_call", f"setup: {project.setup_command}", {"name": "setup", "network": network})
    result = sandbox.run_command(
        project.setup_command,
        root,
        time_limit=settings.JOB_SETUP_TIME_LIMIT,
        should_stop=should_stop,
        env={**project.env, **secrets},
        network=network,
    )
    if result.cancelled:
        raise JobCancelled()
    output = redact(result.output)
    event("output" if result.ok else "error", output or "(no output)", {"name": "setup", "exit_code": result.exit_code})
    if not result.ok:
        raise SetupFailed(f"setup `{project.setup_command}` failed: {result.summary()}")
    _store(root, workspace_id, key, project)
    prepared.setup, prepared.setup_seconds = "ran", time.monotonic() - started
    event("status", f"setup: done in {prepared.setup_seconds:.2f} s; cached for the next jobs", {"setup": "ran"})
    return prepared
