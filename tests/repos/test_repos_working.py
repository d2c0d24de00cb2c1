"""The live files as a repository's work tree: changes since HEAD, a file's HEAD text, initialising a repository,
and commits (author the committing user, every other contributor a Co-authored-by trailer), checked with real
repositories made by the git CLI and `git clone` of the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from tests.support.helpers import make_user
from tests.support.repos_data import PNG, git, make_repository
from workspace.collab import store
from workspace.collab.attribution import DEEP, SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.jobs.models import Job
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace, delete_file
from workspace.repos import branches, importer, working
from workspace.repos.git import GitError
from workspace.repos.models import Repository, repository_path

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    settings.REPOS_LOCAL_ROOTS = [tmp_path / "served"]
    monkeypatch.setattr("tasks.repos.enqueue", lambda import_id: None)


@pytest.fixture
def origin(tmp_path) -> Path:
    return make_repository(
        tmp_path / "served",
        [{"README.md": b"# one\n", "src/app.py": b"print(1)\n", "logo.png": PNG, "old.txt": b"old\n"}],
    )


@pytest.fixture
def cloned(user, origin):
    workspace = create_workspace(user, "Cloned", readme=False)
    job = importer.create_git_import(user, workspace.id, git_url=str(origin))
    importer.run_import(job.id)
    assert Repository.objects.filter(workspace=workspace).exists()
    return workspace


def node(workspace, path: str) -> FileNode:
    return FileNode.objects.get(workspace=workspace, path=path)


def checkout(bare: Path, dest: Path) -> dict[str, bytes]:
    git("clone", "-q", str(bare), str(dest))
    return {
        str(path.relative_to(dest)): path.read_bytes()
        for path in sorted(dest.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(dest).parts
    }


def test_a_fresh_clone_has_no_changes_and_edits_show_as_added_modified_deleted(user, cloned):
    assert working.status(cloned.id)["changes"] == []
    store.replace_text(node(cloned, "src/app.py").id, "print(2)\n", Author(user.id))
    create_file_with_text(cloned, "new.md", "new\n")
    delete_file(node(cloned, "old.txt"))
    status = working.status(cloned.id)
    assert status["branch"] == "main"
    assert [(c["path"], c["status"]) for c in status["changes"]] == [
        ("new.md", "added"),
        ("old.txt", "deleted"),
        ("src/app.py", "modified"),
    ]
    assert status["changes"][2]["file_id"] == node(cloned, "src/app.py").id
    assert working.diff(cloned.id, "src/app.py") == {
        "path": "src/app.py",
        "head": "print(1)\n",
        "live": "print(2)\n",
        "binary": False,
    }
    assert working.diff(cloned.id, "old.txt")["live"] is None
    assert working.diff(cloned.id, "logo.png")["binary"] is True


def test_a_commit_writes_the_live_text_with_the_committer_as_author_and_co_authors_as_trailers(user, cloned, tmp_path):
    bob = make_user("bob")
    bob.first_name, bob.email = "Bob", "bob@example.org"
    bob.save()
    app = node(cloned, "src/app.py")
    store.replace_text(app.id, "print(2)\n", Author(bob.id))
    store.replace_text(app.id, "print(3)\n", Author(user.id, SPARK, "spark-mini", "4"))
    store.replace_text(app.id, "print(4)\n", Author(user.id))
    create_file_with_text(cloned, "docs/new.md", "new\n", author=Author(user.id, DEEP, "deep-large", "9"))
    delete_file(node(cloned, "old.txt"))
    done = working.commit(user, cloned.id, "Edit the app")
    assert [f["path"] for f in done["files"]] == ["docs/new.md", "old.txt", "src/app.py"]
    bare = repository_path(cloned.id)
    assert git("log", "-1", "--format=%an <%ae>", cwd=bare).strip() == "alice <alice@users.sparkroom.invalid>"
    trailers = git("log", "-1", "--format=%(trailers:key=Co-authored-by,valueonly)", cwd=bare).split("\n")
    # Bob deleted the committed line, Deep wrote docs/new.md; Spark's text was replaced before the commit:
    # it is not in the changed lines, so Spark is not credited (tests/repos/test_repos_coauthors.py).
    assert [line for line in trailers if line] == [
        "Bob <bob@example.org>",
        "Deep (deep-large) <deep@sparkroom.invalid>",
    ]
    assert checkout(bare, tmp_path / "elsewhere") == {
        "README.md": b"# one\n",
        "docs/new.md": b"new\n",
        "logo.png": PNG,
        "src/app.py": b"print(4)\n",
    }
    assert working.status(cloned.id)["changes"] == []
    # The next commit names only who wrote since this one.
    store.replace_text(app.id, "print(5)\n", Author(user.id))
    again = working.commit(user, cloned.id, "Once more")
    assert "Co-authored-by" not in again["message"]


def test_a_commit_of_chosen_files_leaves_the_others_changed(user, cloned):
    store.replace_text(node(cloned, "src/app.py").id, "print(2)\n", Author(user.id))
    store.replace_text(node(cloned, "README.md").id, "# two\n", Author(user.id))
    working.commit(user, cloned.id, "Only the readme", ["README.md"])
    assert [c["path"] for c in working.status(cloned.id)["changes"]] == ["src/app.py"]
    with pytest.raises(GitError, match="Nothing to commit"):
        working.commit(user, cloned.id, "Again", ["README.md"])
    with pytest.raises(GitError, match="message"):
        working.commit(user, cloned.id, "  ")


def test_a_workspace_without_a_repository_is_initialised_and_its_first_commit_has_every_file(user, tmp_path):
    workspace = create_workspace(user, "Fresh", readme=False)
    create_file_with_text(workspace, "main.py", "print('hi')\n")
    with pytest.raises(GitError, match="no git repository"):
        working.status(workspace.id)
    assert working.initialise(user, workspace.id)["branch"] == "main"
    with pytest.raises(GitError, match="already"):
        working.initialise(user, workspace.id)
    assert [(c["path"], c["status"]) for c in working.status(workspace.id)["changes"]] == [("main.py", "added")]
    first = working.commit(user, workspace.id, "First")
    assert checkout(repository_path(workspace.id), tmp_path / "copy") == {"main.py": b"print('hi')\n"}
    assert Repository.objects.get(workspace=workspace).head_commit == first["commit"]


def test_a_commit_refuses_when_the_branch_moved_under_it(user, cloned, tmp_path):
    store.replace_text(node(cloned, "README.md").id, "# two\n", Author(user.id))
    bare = repository_path(cloned.id)
    elsewhere = git("commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "meanwhile", cwd=bare).strip()
    git("update-ref", "refs/heads/main", elsewhere, cwd=bare)
    with pytest.raises(GitError, match="moved the branch"):
        working.commit(user, cloned.id, "Stale")
    assert git("rev-parse", "main", cwd=bare).strip() == elsewhere


def test_branches_are_listed_created_and_switched_bringing_their_files_into_the_live_documents(user, cloned):
    assert branches.list_branches(cloned.id)["current"] == "main"
    assert branches.create_branch(cloned.id, "feature")["branches"] == ["feature", "main"]
    with pytest.raises(GitError, match="already"):
        branches.create_branch(cloned.id, "feature")
    switched = branches.switch(user, cloned.id, "feature")
    assert switched["files"] == []
    store.replace_text(node(cloned, "src/app.py").id, "print('feature')\n", Author(user.id))
    create_file_with_text(cloned, "feature.txt", "only here\n")
    with pytest.raises(GitError, match="Commit"):
        branches.switch(user, cloned.id, "main")
    working.commit(user, cloned.id, "Feature work")
    back = branches.switch(user, cloned.id, "main")
    assert {f["path"]: f["status"] for f in back["files"]} == {"feature.txt": "deleted", "src/app.py": "merged"}
    assert store.load_text(node(cloned, "src/app.py").id) == "print(1)\n"
    assert not FileNode.objects.filter(workspace=cloned, path="feature.txt").exists()
    assert working.status(cloned.id)["changes"] == []
    assert Repository.objects.get(workspace=cloned).branch == "main"
    branches.switch(user, cloned.id, "feature")
    assert store.load_text(node(cloned, "feature.txt").id) == "only here\n"
    with pytest.raises(GitError, match="no branch"):
        branches.switch(user, cloned.id, "nope")


def test_a_deep_jobs_result_is_applied_and_committed_from_its_review_with_its_model_as_co_author(user, cloned):
    changeset = [
        {"path": "src/app.py", "status": "modified", "base": "print(1)\n", "proposed": "print('deep')\n"},
        {"path": "docs/deep.md", "status": "added", "base": "", "proposed": "by deep\n"},
    ]
    for entry in changeset:
        entry["file_id"] = (
            FileNode.objects.filter(workspace=cloned, path=entry["path"]).values_list("id", flat=True).first()
        )
    job = Job.objects.create(
        workspace=cloned,
        user=user,
        status="succeeded",
        model="deep-large",
        prompt="Improve",
        result={"changeset": changeset},
    )
    client = Client()
    client.force_login(user)
    response = client.post(f"/api/jobs/{job.id}/commit", data={}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert [f["path"] for f in response.json()["commit"]["files"]] == ["docs/deep.md", "src/app.py"]
    bare = repository_path(cloned.id)
    assert git("log", "-1", "--format=%B", cwd=bare) == (
        f"Deep job #{job.id}: Improve\n\nCo-authored-by: Deep (deep-large) <deep@sparkroom.invalid>\n\n"
    )
    assert git("show", "HEAD:src/app.py", cwd=bare) == "print('deep')\n"
    again = client.post(f"/api/jobs/{job.id}/commit", data={}, content_type="application/json")
    assert again.status_code == 400 and "Nothing to commit" in again.json()["detail"]


def test_a_repository_cloned_into_a_folder_maps_its_tree_to_that_folder(user, origin, tmp_path):
    workspace = create_workspace(user, "Vendored", readme=False)
    create_file_with_text(workspace, "notes.md", "not in the repository\n")
    job = importer.create_git_import(user, workspace.id, git_url=str(origin), into="vendor/lib")
    importer.run_import(job.id)
    store.replace_text(node(workspace, "vendor/lib/src/app.py").id, "print(2)\n", Author(user.id))
    status = working.status(workspace.id)
    assert (status["root"], [(c["path"], c["status"]) for c in status["changes"]]) == (
        "vendor/lib",
        [("vendor/lib/src/app.py", "modified")],
    )
    assert working.diff(workspace.id, "vendor/lib/src/app.py")["head"] == "print(1)\n"
    working.commit(user, workspace.id, "Vendored change")
    tree = checkout(repository_path(workspace.id), tmp_path / "vendored")
    assert sorted(tree) == ["README.md", "logo.png", "old.txt", "src/app.py"]
    assert tree["src/app.py"] == b"print(2)\n"


def test_a_branch_switch_takes_an_automatic_checkpoint_of_the_files_first_and_deleted_files_are_restorable(
    user, cloned
):
    from workspace.collab import checkpoints, contents, tombstones
    from workspace.collab.models import Checkpoint

    branches.create_branch(cloned.id, "feature")
    branches.switch(user, cloned.id, "feature")
    create_file_with_text(cloned, "feature.txt", "only here\n")
    working.commit(user, cloned.id, "Feature work")
    branches.switch(user, cloned.id, "main")
    [latest, first] = checkpoints.listing(cloned.id)
    assert (latest["kind"], latest["reason"]) == ("auto", "before switching to branch main")
    assert first["reason"] == "before switching to branch feature"
    before_main = Checkpoint.objects.get(id=latest["id"])
    held = before_main.files.get(path="feature.txt")
    assert contents.read(held.content_id) == b"only here\n"  # what the switch then deleted
    assert before_main.files.get(path="logo.png").content_id == contents.sha256(PNG)  # by its blob's hash
    [deleted] = tombstones.listing(cloned.id)
    assert deleted["path"] == "feature.txt"
