"""A project's environment file, `sparkroom.toml` at the root of the workspace: parsed and validated.

    [setup]                      # optional: run once, cached until an input changes
    command = "pip install --no-index --target .deps vendor/*.whl"
    inputs = ["requirements.txt", "vendor/*.whl"]   # files (globs) whose content decides the cache
    cache = [".deps"]            # what the setup produces and the jobs reuse (paths in the workspace)

    [commands]
    test = "python -m pytest -q"
    lint = "ruff check ."

    [run]                        # per language, {file} is the file's path
    python = "python {file}"

    [env]                        # plain variables for every command (secrets are set apart, server-side)
    PYTHONPATH = "/workspace/.deps:/workspace"

Every problem is reported at once, with where it is (`EnvironmentFileError.problems`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

FILE_NAME = "sparkroom.toml"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
RESERVED_ENV = {"HOME", "PWD", "TMPDIR"}
MAX_COMMAND = 2000
SECTIONS = {"setup", "commands", "run", "env"}
SETUP_KEYS = {"command", "inputs", "cache"}
COMMAND_KEYS = {"test", "lint"}


class EnvironmentFileError(ValueError):
    """sparkroom.toml cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{FILE_NAME} is not valid: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ProjectEnvironment:
    setup_command: str = ""
    setup_inputs: tuple[str, ...] = ()
    setup_cache: tuple[str, ...] = ()
    commands: dict[str, str] = field(default_factory=dict)  # "test", "lint"
    run: dict[str, str] = field(default_factory=dict)  # language -> command with {file}
    env: dict[str, str] = field(default_factory=dict)

    def command_for_job(self, kind: str) -> str | None:
        """The project's command for a "tests" or "lint" job, if it names one."""
        return self.commands.get({"tests": "test"}.get(kind, kind))

    def run_command_for(self, language: str, path: str) -> str | None:
        template = self.run.get(language)
        return template.replace("{file}", _shell_quote(path)) if template else None


def _shell_quote(path: str) -> str:
    return "'" + path.replace("'", "'\"'\"'") + "'"


def _command(value: object, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where} must be a non-empty string")
        return ""
    if len(value) > MAX_COMMAND:
        problems.append(f"{where} is longer than {MAX_COMMAND} characters")
        return ""
    return value


def _paths(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where} must be a list of paths")
        return ()
    bad = [v for v in value if v.startswith("/") or ".." in v.split("/")]
    if bad:
        problems.append(f"{where}: paths must stay inside the workspace ({', '.join(bad)})")
        return ()
    return tuple(v.strip().rstrip("/") for v in value)


def _table(data: dict, name: str, problems: list[str]) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        problems.append(f"[{name}] must be a table")
        return {}
    return value


def _unknown(table: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    for key in sorted(set(table) - allowed):
        problems.append(f"unknown key {key!r} in {where} (expected one of {', '.join(sorted(allowed))})")


def _setup(data: dict, problems: list[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    setup = _table(data, "setup", problems)
    _unknown(setup, SETUP_KEYS, "[setup]", problems)
    if not setup:
        return "", (), ()
    command = _command(setup.get("command"), "[setup] command", problems)
    inputs = _paths(setup.get("inputs", []), "[setup] inputs", problems)
    cache = _paths(setup.get("cache", []), "[setup] cache", problems)
    if command and not cache:
        problems.append('[setup] cache must name what the setup produces (e.g. [".venv"]), or nothing is reused')
    return command, inputs, cache


def _strings(table: dict, where: str, problems: list[str], *, commands: bool) -> dict[str, str]:
    values = {}
    for key, value in table.items():
        if commands:
            values[key] = _command(value, f"[{where}] {key}", problems)
        elif not isinstance(value, str | int | float | bool):
            problems.append(f"[{where}] {key} must be a string")
        else:
            values[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


def parse(text: str) -> ProjectEnvironment:
    """The environment described by `text` (a sparkroom.toml); raises EnvironmentFileError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnvironmentFileError([f"not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    for key in sorted(set(data) - SECTIONS):
        problems.append(f"unknown section [{key}] (expected {', '.join(sorted(SECTIONS))})")
    setup_command, inputs, cache = _setup(data, problems)
    commands_table = _table(data, "commands", problems)
    _unknown(commands_table, COMMAND_KEYS, "[commands]", problems)
    commands = _strings(commands_table, "commands", problems, commands=True)
    run = _strings(_table(data, "run", problems), "run", problems, commands=True)
    for language, template in run.items():
        if template and "{file}" not in template:
            problems.append(f"[run] {language} must contain {{file}}, where the file's path goes")
    env = _strings(_table(data, "env", problems), "env", problems, commands=False)
    for name in env:
        if not ENV_NAME.match(name):
            problems.append(f"[env] {name!r} is not a variable name (letters, digits, _)")
        elif name in RESERVED_ENV:
            problems.append(f"[env] {name} is set by the sandbox and cannot be changed")
    if problems:
        raise EnvironmentFileError(problems)
    return ProjectEnvironment(setup_command, inputs, cache, commands, run, env)
