"""An http remote, served on 127.0.0.1 by `git http-backend` behind a tiny CGI server (tests/support/git_http.py):
clone, pull and push go through the URL's path (smart HTTP: info/refs, upload-pack, receive-pack); plain http is
allowed only to the hosts of REPOS_HTTP_HOSTS, credentials in the URL are refused, and a server asking for a
password fails the clone at once with git's reason (no prompt, nothing hangs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import git_http
from tests.support.repos_data import git, make_repository
from workspace.collab import store
from workspace.collab.attribution import Author
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace
from workspace.repos import importer, sync, working
from workspace.repos.git import GitError
from workspace.repos.models import GitOperation, ImportJob, ImportStatus

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

APP = "line 1\nline 2\nline 3\n"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    settings.REPOS_HTTP_HOSTS = ["127.0.0.1"]
    monkeypatch.setattr("tasks.repos.enqueue", lambda import_id: None)


@pytest.fixture
def served(tmp_path) -> Path:
    """The folder the server serves; its repository team/origin.git accepts pushes over http."""
    bare = make_repository(tmp_path / "served" / "team", [{"app.py": APP.encode()}])
    git("config", "http.receivepack", "true", cwd=bare)
    return tmp_path / "served"


def run_operation(user, workspace_id: int, kind: str) -> GitOperation:
    operation = sync.start(user, workspace_id, kind, lambda _: None)
    assert sync.run(operation.id) == "succeeded", GitOperation.objects.get(id=operation.id).error
    return GitOperation.objects.get(id=operation.id)


def test_a_repository_over_http_is_cloned_pulled_and_pushed_through_its_url_path(user, served, tmp_path):
    bare = served / "team" / "origin.git"
    with git_http.serve(served) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/git/team/origin.git"
        workspace = create_workspace(user, "Over http", readme=False)
        job = importer.create_git_import(user, workspace.id, git_url=url, shallow=False)
        importer.run_import(job.id)
        assert ImportJob.objects.get(id=job.id).status == ImportStatus.SUCCEEDED
        app = FileNode.objects.get(workspace=workspace, path="app.py")
        assert store.load_text(app.id) == APP
        # Someone else pushes over http too; the workspace pulls it.
        upstream = tmp_path / "upstream"
        git("clone", "-q", url, str(upstream))
        (upstream / "app.py").write_text(APP + "line 4 (remote)\n")
        git("commit", "-qam", "remote line", cwd=upstream)
        git("push", "-q", cwd=upstream)
        pulled = run_operation(user, workspace.id, "pull")
        assert pulled.result["files"] == [{"path": "app.py", "status": "merged", "conflicts": []}]
        assert store.load_text(app.id) == APP + "line 4 (remote)\n"
        store.replace_text(app.id, APP + "line 4 (remote)\nline 5 (here)\n", Author(user.id))
        commit = working.commit(user, workspace.id, "Line 5")["commit"]
        pushed = run_operation(user, workspace.id, "push")
        assert pushed.result["commit"] == commit
        assert git("rev-parse", "main", cwd=bare).strip() == commit
        requests = "\n".join(server.requests)
    for path in (
        "GET /git/team/origin.git/info/refs?service=git-upload-pack",
        "POST /git/team/origin.git/git-upload-pack",
        "GET /git/team/origin.git/info/refs?service=git-receive-pack",
        "POST /git/team/origin.git/git-receive-pack",
    ):
        assert path in requests


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:9/git/team/origin.git", "Plain http is not encrypted"),  # not a REPOS_HTTP_HOSTS host
        ("http://git:secret@127.0.0.1:9/git/team/origin.git", "Put no credentials in the URL"),
    ],
)
def test_http_is_refused_to_other_hosts_and_with_credentials_in_the_url(user, url, message):
    workspace = create_workspace(user, "Refused", readme=False)
    with pytest.raises(GitError, match=message):
        importer.create_git_import(user, workspace.id, git_url=url)


def test_a_server_asking_for_a_password_fails_the_clone_with_gits_reason_without_prompting(user, served):
    with git_http.serve(served, password="hunter2") as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/git/team/origin.git"
        workspace = create_workspace(user, "Private", readme=False)
        job = importer.create_git_import(user, workspace.id, git_url=url)
        importer.run_import(job.id)
    failed = ImportJob.objects.get(id=job.id)
    assert failed.status == ImportStatus.FAILED
    assert "terminal prompts disabled" in failed.error or "Authentication failed" in failed.error
    assert "hunter2" not in failed.error
