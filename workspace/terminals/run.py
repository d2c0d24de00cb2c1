"""What Run types for a file (sync ORM code): the command set for its language in this workspace (the ⚙ beside Run),
else the project's `[run]` command from sparkroom.toml, else the built-in one.

A command is one line; "{path}" in it is replaced by the file's path, shell-quoted (a plain replacement, so
braces elsewhere in the command stay as they are).
"""

from __future__ import annotations

import shlex

from workspace.jobs.environment import file_state
from workspace.projects.languages import EXTENSION_LANGUAGES, language_for_path
from workspace.terminals.models import RunCommand

# The built-in command for a file of each language (Monaco's language ids, workspace.projects.languages).
RUN_COMMANDS = {
    "python": "python {path}",
    "javascript": "node {path}",
    "shell": "bash {path}",
    "ruby": "ruby {path}",
    "go": "go run {path}",
}
MAX_COMMAND_CHARS = 500


class RunCommandError(ValueError):
    """A Run command that cannot be set or used; the message is for the user."""


def known_languages() -> set[str]:
    return set(EXTENSION_LANGUAGES.values()) | {"makefile", "plaintext"}


def project_run_commands(workspace_id: int) -> dict[str, str]:
    """The `[run]` commands of sparkroom.toml ({file} there is {path} here); none while the file is invalid."""
    return {
        language: command.replace("{file}", "{path}")
        for language, command in file_state(workspace_id).get("run", {}).items()
    }


def run_commands(workspace_id: int) -> dict[str, str]:
    """Every language's command in this workspace: the built-in ones, the project's over them, the workspace's own
    over both."""
    own = dict(RunCommand.objects.filter(workspace_id=workspace_id).values_list("language", "command"))
    return {**RUN_COMMANDS, **project_run_commands(workspace_id), **own}


def command_for(workspace_id: int, path: str) -> str:
    language = language_for_path(path)
    template = run_commands(workspace_id).get(language)
    if template is None:
        raise RunCommandError(f"no Run command for {language} files: set one for this workspace")
    return template.replace("{path}", shlex.quote(path))


def set_run_command(workspace_id: int, language: object, command: object, user) -> dict[str, str]:
    """Set (or, with an empty command, remove) the workspace's command for `language`; returns all commands."""
    if not isinstance(language, str) or language not in known_languages():
        raise RunCommandError("unknown language")
    if not isinstance(command, str) or len(command) > MAX_COMMAND_CHARS:
        raise RunCommandError(f"the command must be text of at most {MAX_COMMAND_CHARS} characters")
    command = command.strip()
    if any(ord(char) < 32 for char in command):
        raise RunCommandError("the command must be one line without control characters")
    if command:
        RunCommand.objects.update_or_create(
            workspace_id=workspace_id, language=language, defaults={"command": command, "updated_by": user}
        )
    else:
        RunCommand.objects.filter(workspace_id=workspace_id, language=language).delete()
    return run_commands(workspace_id)
