"""docs/configuration.md lists every environment variable that workspace/settings.py reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded
ROOT = Path(__file__).resolve().parents[2]
READERS = {"env_bool", "env_int", "env_float", "env_list"}


def variables_read_by_settings() -> set[str]:
    """Names passed to the settings module's env readers, to os.environ.get and to os.environ[...]."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / "workspace" / "settings.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            is_reader = isinstance(func, ast.Name) and func.id in READERS
            is_environ_get = (
                isinstance(func, ast.Attribute)
                and func.attr == "get"
                and isinstance(func.value, ast.Attribute)
                and func.value.attr == "environ"
            )
            if is_reader or is_environ_get:
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "environ":
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return names


def test_every_environment_variable_of_the_settings_is_documented():
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    read = variables_read_by_settings()
    assert len(read) > 50  # the parser still finds them
    missing = sorted(name for name in read if f"`{name}`" not in documented)
    assert not missing, f"add these to docs/configuration.md: {missing}"
