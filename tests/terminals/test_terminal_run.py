"""What Run types: the workspace's own command over the project's sparkroom.toml [run] over the built-in one."""

from __future__ import annotations

import pytest

from workspace.collab.files import create_file_with_text
from workspace.terminals.run import command_for, run_commands, set_run_command

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

TOML = '[run]\npython = "python -X dev {file}"\nruby = "bundle exec ruby {file}"\n'


def test_the_projects_run_commands_replace_the_built_in_ones(workspace_with_file):
    workspace, _ = workspace_with_file
    create_file_with_text(workspace, "sparkroom.toml", TOML)
    assert command_for(workspace.id, "src/main.py") == "python -X dev src/main.py"
    assert run_commands(workspace.id)["ruby"] == "bundle exec ruby {path}"
    assert run_commands(workspace.id)["javascript"] == "node {path}"  # not in the file: the built-in one


def test_the_workspaces_own_command_wins_over_the_projects(workspace_with_file, user):
    workspace, _ = workspace_with_file
    create_file_with_text(workspace, "sparkroom.toml", TOML)
    set_run_command(workspace.id, "python", "python3 -u {path}", user)
    assert command_for(workspace.id, "my app.py") == "python3 -u 'my app.py'"


def test_an_invalid_sparkroom_toml_leaves_the_built_in_commands(workspace_with_file):
    workspace, _ = workspace_with_file
    create_file_with_text(workspace, "sparkroom.toml", '[run]\npython = "python"\n')  # no {file}: a problem
    assert command_for(workspace.id, "src/main.py") == "python src/main.py"
