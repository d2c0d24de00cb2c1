"""Cloning git repositories into a workspace: real bare repositories made with the git CLI, cloned by path and
file:// (no network), ssh through a stand-in `ssh` that serves the same local repository, the safe git
environment, and the `Repository` a clone leaves on the server."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

from tests.support.helpers import make_user
from tests.support.repos_data import PNG, git, make_repository
from workspace.collab import store
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import create_workspace, file_tree
from workspace.repos import git as repo_git
from workspace.repos import importer
from workspace.repos.models import Blob, ImportJob, ImportStatus, Repository, known_hosts_path, repository_path

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAA\r\n-----END OPENSSH PRIVATE KEY-----\r\n"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    settings.REPOS_LOCAL_ROOTS = [tmp_path / "served"]
    monkeypatch.setattr("tasks.repos.enqueue", lambda import_id: None)


@pytest.fixture
def origin(tmp_path) -> Path:
    """A bare repository with three commits on main, a branch `feature` and a tag `v1` (on the first commit)."""
    bare = make_repository(
        tmp_path / "served",
        [
            {"README.md": b"# one\n", "src/app.py": b"print(1)\n"},
            {"src/app.py": b"print(2)\n", "logo.png": PNG, ".gitignore": b"*.log\n"},
            {"src/app.py": b"print(3)\n"},
        ],
    )
    work = tmp_path / "served" / "work"
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=work).strip()
    git("tag", "v1", first, cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    (work / "feature.txt").write_bytes(b"on the branch\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "feature", cwd=work)
    git("push", "-q", str(bare), "feature", "v1", cwd=work)
    return bare


@pytest.fixture
def workspace(user):
    return create_workspace(user, "Clone here", readme=False)


def clone(user, workspace, url: str, **options) -> ImportJob:
    job = importer.create_git_import(user, workspace.id, git_url=url, **options)
    importer.run_import(job.id)
    return ImportJob.objects.get(id=job.id)


def texts(workspace_id: int) -> dict[str, str]:
    return {
        node.path: store.load_text(node.id)
        for node in FileNode.objects.filter(workspace_id=workspace_id, is_folder=False, kind=FileKind.TEXT)
    }


def in_repository(workspace_id: int, *args: str) -> str:
    return git(*args, cwd=repository_path(workspace_id)).strip()


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_clone_imports_the_default_branch_and_keeps_a_shallow_bare_repository(user, workspace, origin, form):
    url = str(origin) if form == "path" else origin.as_uri()
    job = clone(user, workspace, url)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert texts(workspace.id) == {"README.md": "# one\n", "src/app.py": "print(3)\n", ".gitignore": "*.log\n"}
    logo = FileNode.objects.get(workspace=workspace, path="logo.png")
    assert logo.kind == FileKind.BINARY and bytes(Blob.objects.get(file=logo).data) == PNG
    repository = Repository.objects.get(workspace=workspace)
    head = git("rev-parse", "main", cwd=origin).strip()
    assert (repository.remote_url, repository.branch, repository.head_commit) == (url, "main", head)
    assert repository.created_by == user and repository.shallow
    assert repository.path == repository_path(workspace.id) and repository.path.is_dir()
    assert in_repository(workspace.id, "rev-parse", "HEAD") == head
    assert in_repository(workspace.id, "rev-list", "--count", "HEAD") == "1", "shallow by default"
    assert in_repository(workspace.id, "rev-parse", "--is-bare-repository") == "true"
    assert job.summary["repository"] == {"remote_url": url, "branch": "main", "head_commit": head}
    assert not list((Path(repository.path).parent.parent / "tmp").glob("clone-*")), "the temporary clone is gone"


def test_a_full_clone_keeps_the_whole_history(user, workspace, origin):
    job = clone(user, workspace, str(origin), shallow=False)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert in_repository(workspace.id, "rev-list", "--count", "main") == "3"
    assert not Repository.objects.get(workspace=workspace).shallow


@pytest.mark.parametrize(("ref", "expected"), [("feature", "on the branch\n"), ("v1", None)])
def test_a_branch_or_a_tag_can_be_cloned(user, workspace, origin, ref, expected):
    job = clone(user, workspace, origin.as_uri(), ref=ref)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    files = texts(workspace.id)
    assert files.get("feature.txt") == expected
    assert files["src/app.py"] == ("print(3)\n" if ref == "feature" else "print(1)\n")
    assert Repository.objects.get(workspace=workspace).branch == ref


def test_an_unknown_branch_fails_with_gits_reason_and_leaves_nothing(user, workspace, origin):
    job = clone(user, workspace, str(origin), ref="no-such-branch")
    assert job.status == ImportStatus.FAILED
    assert "no-such-branch" in job.error and "not found" in job.error
    assert "/repos/" not in job.error, "server paths are not shown"
    assert not Repository.objects.exists() and not FileNode.objects.filter(workspace=workspace).exists()
    assert not repository_path(workspace.id).exists()


def test_a_clone_imports_tracked_files_even_if_ignored_and_skips_submodules(user, workspace, tmp_path):
    served = tmp_path / "served" / "extra"
    bare = make_repository(served, [{".gitignore": b"*.log\n", "README.md": b"r\n"}])
    work = served / "work"
    (work / "tracked.log").write_bytes(b"committed on purpose\n")
    git("add", "-f", "tracked.log", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work).strip()
    os.symlink("README.md", work / "docs-link.md")
    os.symlink("../../outside", work / "escape")
    git("add", "-A", cwd=work)
    git("update-index", "--add", "--cacheinfo", f"160000,{head},vendor/lib", cwd=work)
    git("commit", "-q", "-m", "more", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    job = clone(user, workspace, str(bare))
    assert job.status == ImportStatus.SUCCEEDED, job.error
    files = texts(workspace.id)
    assert files["tracked.log"] == "committed on purpose\n", "a commit's files are imported, as git checks them out"
    assert files["docs-link.md"] == "r\n", "a symlink inside the tree is a copy of its target"
    reasons = {item["path"]: item["reason"] for item in job.summary["skipped"]}
    assert reasons["escape"] == "refused: a symbolic link pointing outside the tree (../../outside)"
    assert reasons["vendor/lib"] == "a git submodule (its repository is not cloned)"


def test_local_clones_are_off_unless_the_operator_names_roots(user, workspace, origin, settings):
    settings.REPOS_LOCAL_ROOTS = []
    client = Client()
    client.force_login(user)
    response = client.post(
        f"/api/workspaces/{workspace.id}/import", json.dumps({"git_url": str(origin)}), "application/json"
    )
    assert response.status_code == 400
    assert "REPOS_LOCAL_ROOTS" in response.json()["detail"]
    assert not ImportJob.objects.exists()


def test_local_paths_outside_the_roots_are_refused_even_through_a_symlink(user, workspace, origin, tmp_path):
    elsewhere = make_repository(tmp_path / "private", [{"secret.txt": b"s\n"}])
    os.symlink(elsewhere, tmp_path / "served" / "sneaky.git")
    for url in (str(elsewhere), elsewhere.as_uri(), str(tmp_path / "served" / "sneaky.git"), f"{origin}/../../private"):
        with pytest.raises(repo_git.GitError):
            importer.create_git_import(user, workspace.id, git_url=url)
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/x.git", "Plain http is not encrypted"),
        ("https://user:token@example.com/x.git", "Put no credentials in the URL"),
        ("ext::sh%20-c%20touch%20/tmp/pwned", "remote helpers"),
        ("fd::17", "remote helpers"),
        ("-uhelp", "That is not a git URL."),
        ("git://example.com/x.git", "git:// URLs are not supported"),
        ("ssh://-oProxyCommand=evil/x", "no valid host"),
        ("", "Give the URL of a git repository."),
    ],
)
def test_unsafe_or_unsupported_urls_are_refused_before_anything_runs(user, workspace, url, message):
    with pytest.raises(repo_git.GitError, match=message):
        importer.create_git_import(user, workspace.id, git_url=url)


@pytest.mark.parametrize("ref", ["-b", "a..b", "x y", "refs/../x", "x.lock", "@{-1}"])
def test_refs_that_are_not_branch_or_tag_names_are_refused(user, workspace, origin, ref):
    with pytest.raises(repo_git.GitError, match="is not a branch or tag name"):
        importer.create_git_import(user, workspace.id, git_url=str(origin), ref=ref)


def test_a_workspace_keeps_one_repository(user, workspace, origin):
    assert clone(user, workspace, str(origin)).status == ImportStatus.SUCCEEDED
    with pytest.raises(importer.ImportRequestError, match="already has a git repository"):
        importer.create_git_import(user, workspace.id, git_url=str(origin))


def test_a_clone_larger_than_the_limit_is_refused(user, workspace, tmp_path, settings):
    bare = make_repository(tmp_path / "served" / "big", [{"noise.bin": os.urandom(300_000)}])
    settings.REPOS_MAX_ARCHIVE_BYTES = 100_000
    job = clone(user, workspace, str(bare))
    assert job.status == ImportStatus.FAILED
    assert job.error == "Refused: the repository is larger than 100000 bytes (REPOS_MAX_ARCHIVE_BYTES)."
    assert not repository_path(workspace.id).exists()


def test_the_servers_own_git_configuration_is_not_used(user, workspace, origin, tmp_path, monkeypatch):
    """A global config of the worker's user that rewrites every URL must change nothing."""
    config = tmp_path / "evil.gitconfig"
    config.write_text('[url "file:///nonexistent/"]\n\tinsteadOf = file://\n\tinsteadOf = /\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".gitconfig").write_text(config.read_text())
    job = clone(user, workspace, origin.as_uri())
    assert job.status == ImportStatus.SUCCEEDED, job.error


def test_git_runs_with_a_safe_environment(tmp_path):
    with repo_git.session("https") as session:
        env = session.env()
        assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_CONFIG_GLOBAL"] == os.devnull
        assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ALLOW_PROTOCOL"] == "https"
        assert env["HOME"] == str(session.home) and not any(session.home.iterdir())
        assert stat.S_IMODE(session.home.stat().st_mode) == 0o700
        assert "BatchMode=yes" in env["GIT_SSH_COMMAND"] and "-F /dev/null" in env["GIT_SSH_COMMAND"]
        assert "SSH_AUTH_SOCK" not in env
        home = session.home
    assert not home.exists()
    assert "core.hooksPath=/dev/null" in repo_git.SAFE_CONFIG and "transfer.fsckObjects=true" in repo_git.SAFE_CONFIG


# --- ssh, through a stand-in ssh program that serves the local repository ---------------------------------------


def fake_ssh(folder: Path, log: Path, sleep: float = 0.0) -> None:
    """An `ssh` that records how it was called (and the key file it was given) and runs the remote command here."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ssh"
    script.write_text(
        f"""#!{sys.executable}
import json, os, stat, sys, time
args, options, keys, i = sys.argv[1:], [], [], 0
while i < len(args) and args[i].startswith("-"):
    if len(args[i]) == 2 and args[i][1] in "FoipleEcmOSwbDLRJ":
        options.append([args[i], args[i + 1]])
        if args[i] == "-i":
            key = args[i + 1]
            mode, folder = stat.S_IMODE(os.stat(key).st_mode), stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode)
            keys.append({{"mode": mode, "dir_mode": folder, "text": open(key).read()}})
        i += 2
    else:
        options.append([args[i]])
        i += 1
host, command = args[i], " ".join(args[i + 1:])
with open({str(log)!r}, "a") as handle:
    handle.write(json.dumps({{"options": options, "keys": keys, "host": host, "command": command}}) + "\\n")
time.sleep({sleep})
os.execvp("sh", ["sh", "-c", command])
"""
    )
    script.chmod(0o755)


def test_ssh_clones_use_the_deploy_key_from_a_private_file_and_the_workspaces_known_hosts(
    user, workspace, origin, tmp_path, monkeypatch
):
    log = tmp_path / "ssh.log"
    fake_ssh(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    job = clone(user, workspace, f"git@git.example.com:{origin}", deploy_key=KEY)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert texts(workspace.id)["src/app.py"] == "print(3)\n"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls and all(call["host"] == "git@git.example.com" for call in calls)
    options = {option[1] for option in calls[0]["options"] if len(option) == 2}
    assert "StrictHostKeyChecking=accept-new" in options and "BatchMode=yes" in options
    assert f"UserKnownHostsFile={known_hosts_path(workspace.id)}" in options
    assert calls[0]["keys"] == [{"mode": 0o600, "dir_mode": 0o700, "text": KEY.replace("\r\n", "\n")}]
    key_file = next(option[1] for option in calls[0]["options"] if option[0] == "-i")
    assert not Path(key_file).exists(), "the key file is removed after the clone"
    repository = Repository.objects.get(workspace=workspace)
    assert repository.deploy_key == KEY.replace("\r\n", "\n")
    assert ImportJob.objects.get(id=job.id).deploy_key == "", "the import does not keep the key"


def test_the_deploy_key_is_never_shown_back(user, workspace, origin, tmp_path, monkeypatch):
    client = Client()
    client.force_login(user)
    body = {"git_url": f"git@git.example.com:{origin}", "deploy_key": KEY}
    response = client.post(f"/api/workspaces/{workspace.id}/import", json.dumps(body), "application/json")
    assert response.status_code == 200, response.content
    shown = [response.content, client.get(f"/api/imports/{response.json()['id']}").content]
    shown.append(client.get(f"/api/workspaces/{workspace.id}/imports").content)
    assert all(b"PRIVATE KEY" not in content and b"b3BlbnNzaC" not in content for content in shown)


def test_a_deploy_key_needs_an_ssh_url_and_must_look_like_a_private_key(user, workspace, origin):
    with pytest.raises(repo_git.GitError, match="used with an ssh URL"):
        importer.create_git_import(user, workspace.id, git_url=str(origin), deploy_key=KEY)
    with pytest.raises(repo_git.GitError, match="Paste the private key"):
        importer.create_git_import(user, workspace.id, git_url="git@example.com:x/y.git", deploy_key="ssh-ed25519 AAAA")


def test_a_clone_that_takes_too_long_is_killed(user, workspace, origin, tmp_path, monkeypatch, settings):
    settings.REPOS_GIT_TIMEOUT = 1
    fake_ssh(tmp_path / "bin", tmp_path / "ssh.log", sleep=30)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    job = clone(user, workspace, f"git@git.example.com:{origin}")
    assert time.monotonic() - started < 10
    assert job.status == ImportStatus.FAILED
    assert job.error == "Refused: git took longer than 1 s (REPOS_GIT_TIMEOUT)."


def test_a_viewer_cannot_clone(workspace, origin):
    from tests.support.helpers import make_member
    from workspace.projects.guard import Forbidden
    from workspace.projects.models import Role

    viewer = make_user("viewer")
    make_member(workspace, viewer, Role.VIEWER)
    with pytest.raises(Forbidden):
        importer.create_git_import(viewer, workspace.id, git_url=str(origin))
    assert file_tree(workspace.id) == []
