"""Issue #11 item 4: no default SECRET_KEY. Production mode refuses to start without one; the embedded mode
generates a key once and keeps it in SPARKROOM_DATA_DIR; the README's production configuration passes
`manage.py check --deploy` without a warning."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import signing

from workspace.collab.tokens import SALT, read_token

ROOT = Path(__file__).resolve().parents[2]
OLD_DEFAULT_KEY = "sparkroom-dev-insecure-key-change-me-in-production"
# Variables of the parent environment that decide the mode; each test starts from none of them.
MODE_VARIABLES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG", "ALLOWED_HOSTS")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES and not k.startswith("SECURE_")}
    env.pop("PYTEST_VERSION", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def print_key(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    return run([sys.executable, "-c", code], {**env, "DJANGO_SETTINGS_MODULE": "workspace.settings"})


@pytest.mark.embedded
@pytest.mark.parametrize(
    "mode",
    [
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/sparkroom"},
        {"REDIS_URL": "redis://127.0.0.1:6379/5"},
        {"ALLOWED_HOSTS": "sparkroom.example.com"},
        {"ALLOWED_HOSTS": "*", "DEBUG": "0"},
    ],
    ids=["database-url", "redis-url", "public-host", "any-host"],
)
def test_production_mode_refuses_to_start_without_a_secret_key(mode, tmp_path):
    env = clean_env(SPARKROOM_DATA_DIR=str(tmp_path / "data"), **mode)
    for command in ([sys.executable, "manage.py", "check"], [sys.executable, "-m", "workspace.serve", "-p", "0"]):
        result = run(command, env)
        assert result.returncode != 0
        assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "data").exists()  # no key file was made in production mode


@pytest.mark.embedded
def test_production_mode_starts_with_a_secret_key(tmp_path):
    env = clean_env(DATABASE_URL="postgres://postgres@127.0.0.1:5432/sparkroom", SECRET_KEY=secrets.token_urlsafe(50))
    result = print_key(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == env["SECRET_KEY"]


@pytest.mark.embedded
def test_the_embedded_mode_generates_a_key_once_and_keeps_it_private(tmp_path):
    data = tmp_path / "data"
    env = clean_env(SPARKROOM_DATA_DIR=str(data))
    first = print_key(env)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50 and key != OLD_DEFAULT_KEY
    key_file = data / "secret_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert print_key(env).stdout.strip() == key  # kept across restarts
    other = print_key(clean_env(SPARKROOM_DATA_DIR=str(tmp_path / "elsewhere"))).stdout.strip()
    assert other and other != key  # each installation has its own


@pytest.mark.embedded
def test_processes_starting_together_agree_on_one_generated_key(tmp_path):
    env = {**clean_env(SPARKROOM_DATA_DIR=str(tmp_path / "data")), "DJANGO_SETTINGS_MODULE": "workspace.settings"}
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]  # no temporary file left


@pytest.mark.embedded
def test_the_key_file_is_git_ignored():
    result = run(["git", "check-ignore", "-q", ".data/secret_key"], clean_env())
    assert result.returncode == 0


@pytest.mark.embedded
def test_a_document_token_signed_with_the_old_default_key_is_refused():
    assert settings.SECRET_KEY != OLD_DEFAULT_KEY
    forged = signing.TimestampSigner(key=OLD_DEFAULT_KEY, salt=SALT).sign_object({"u": 1, "f": 1})
    assert read_token(forged, 1) is None


def documented_production_env() -> dict[str, str]:
    """The variables of the README's "Production configuration" block (its `export` lines)."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env -->\s*```sh\n(.*?)```", readme, re.S)
    assert block, "README.md lost its production configuration block"
    env = {}
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            env.update(word.split("=", 1) for word in words[1:])
    return env


@pytest.mark.embedded
def test_the_documented_production_configuration_passes_check_deploy():
    documented = documented_production_env()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE"} <= documented.keys()
    documented["SECRET_KEY"] = secrets.token_urlsafe(50)  # the README generates it with the same call
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], clean_env(**documented))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.embedded
def test_check_deploy_warns_about_what_the_documented_configuration_sets():
    """The other side: without the HTTPS settings check --deploy does fail, so the test above proves them."""
    documented = documented_production_env()
    documented["SECRET_KEY"] = secrets.token_urlsafe(50)
    for name in list(documented):
        if name.startswith("SECURE_") or name.endswith("_COOKIE_SECURE"):
            del documented[name]
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], clean_env(**documented))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout
