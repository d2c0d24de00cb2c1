"""Push and pull with a real remote (a local bare repository reached by file://, changed by another clone with
the git CLI): pushes send the commits, pulls bring the remote's changes into the live documents as CRDT edits
while a client types in the same file (both kept), create and remove files, report conflicts, and merge
diverged histories."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from tests.support.helpers import make_user
from tests.support.repos_data import PNG, git, make_repository
from tests.support.yclient import YClient
from workspace.collab import store
from workspace.collab.attribution import Author
from workspace.collab.files import create_file_with_text
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import create_workspace, delete_file
from workspace.repos import importer, sync, working
from workspace.repos.models import Blob, GitOperation, Repository, repository_path

pytestmark = [pytest.mark.embedded]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    settings.REPOS_LOCAL_ROOTS = [tmp_path / "served"]
    monkeypatch.setattr("tasks.repos.enqueue", lambda import_id: None)


APP = "".join(f"line {n}\n" for n in range(1, 11))


@pytest.fixture
def origin(tmp_path) -> Path:
    return make_repository(tmp_path / "served", [{"app.py": APP.encode(), "gone.txt": b"bye\n"}])


def cloned_workspace(user, origin: Path):
    workspace = create_workspace(user, "Synced", readme=False)
    job = importer.create_git_import(user, workspace.id, git_url=origin.as_uri(), shallow=False)
    importer.run_import(job.id)
    assert Repository.objects.filter(workspace=workspace).exists()
    return workspace


def upstream_change(origin: Path, work: Path, files: dict[str, bytes | None]) -> str:
    """Another person's commit, pushed to the remote."""
    if not work.exists():
        git("clone", "-q", str(origin), str(work))
    git("pull", "-q", cwd=work)
    for path, data in files.items():
        if data is None:
            (work / path).unlink()
        else:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_bytes(data)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "upstream", cwd=work)
    git("push", "-q", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def run_operation(user, workspace_id: int, kind: str) -> GitOperation:
    operation = sync.start(user, workspace_id, kind, lambda _: None)
    assert sync.run(operation.id) == "succeeded", GitOperation.objects.get(id=operation.id).error
    assert sync.run(operation.id) == "not claimed"  # idempotent
    return GitOperation.objects.get(id=operation.id)


def text_of(workspace, path: str) -> str:
    return store.load_text(FileNode.objects.get(workspace=workspace, path=path).id)


@pytest.mark.django_db
def test_a_push_sends_the_workspaces_commits_to_the_remote(user, origin, django_capture_on_commit_callbacks):
    workspace = cloned_workspace(user, origin)
    create_file_with_text(workspace, "new.py", "print('new')\n", author=Author(user.id))
    commit = working.commit(user, workspace.id, "Add new.py")["commit"]
    queued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        operation = sync.start(user, workspace.id, "push", queued.append)
    assert queued == [operation.id]  # enqueued once committed
    with pytest.raises(working.GitError, match="already under way"):
        sync.start(user, workspace.id, "pull", queued.append)
    GitOperation.objects.filter(id=operation.id).delete()
    operation = run_operation(user, workspace.id, "push")
    assert operation.result["commit"] == commit
    assert git("rev-parse", "main", cwd=origin).strip() == commit


@pytest.mark.django_db
def test_a_pull_creates_removes_and_merges_files_and_reports_conflicts(user, origin, tmp_path):
    workspace = cloned_workspace(user, origin)
    app = FileNode.objects.get(workspace=workspace, path="app.py")
    store.replace_text(app.id, APP.replace("line 2\n", "line 2 (here)\n").replace("line 9\n", "line 9 mine\n"))
    theirs = upstream_change(
        origin,
        tmp_path / "upstream",
        {
            "app.py": APP.replace("line 8\n", "line 8 (remote)\n").replace("line 9\n", "line 9 theirs\n").encode(),
            "added/new.md": b"from the remote\n",
            "added/logo.png": PNG,
            "gone.txt": None,
        },
    )
    operation = run_operation(user, workspace.id, "pull")
    outcomes = {item["path"]: item for item in operation.result["files"]}
    assert outcomes["added/new.md"]["status"] == outcomes["added/logo.png"]["status"] == "added"
    logo = FileNode.objects.get(workspace=workspace, path="added/logo.png")
    assert logo.kind == FileKind.BINARY and bytes(Blob.objects.get(file=logo).data) == PNG
    assert outcomes["gone.txt"]["status"] == "deleted"
    assert outcomes["app.py"]["status"] == "conflict"
    assert outcomes["app.py"]["conflicts"][0]["theirs"] == "line 8 (remote)\nline 9 theirs\n"
    assert text_of(workspace, "added/new.md") == "from the remote\n"
    assert not FileNode.objects.filter(workspace=workspace, path="gone.txt").exists()
    assert text_of(workspace, "app.py") == APP.replace("line 2\n", "line 2 (here)\n").replace(
        "line 9\n", "line 9 mine\n"
    )  # the conflicting lines keep the live text
    assert Repository.objects.get(workspace=workspace).head_commit == theirs
    assert [c["path"] for c in working.status(workspace.id)["changes"]] == ["app.py"]
    assert run_operation(user, workspace.id, "pull").result["up_to_date"] is True


@pytest.mark.django_db
def test_a_pull_takes_an_automatic_checkpoint_first_and_files_it_deletes_are_restorable(user, origin, tmp_path):
    from workspace.collab import checkpoints, contents, tombstones
    from workspace.collab.models import Checkpoint, DeletedFile

    workspace = cloned_workspace(user, origin)
    upstream_change(
        origin, tmp_path / "upstream", {"app.py": APP.replace("line 1\n", "remote\n").encode(), "gone.txt": None}
    )
    operation = run_operation(user, workspace.id, "pull")
    checkpoint = Checkpoint.objects.get(workspace=workspace)
    assert (checkpoint.kind, checkpoint.reason, checkpoint.created_by_id) == (
        "auto",
        f"before git pull #{operation.id}",
        user.id,
    )
    assert contents.read(checkpoint.files.get(path="app.py").content_id) == APP.encode()
    [deleted] = tombstones.listing(workspace.id)
    assert (deleted["path"], deleted["deleted_by"]) == ("gone.txt", "alice")
    tombstones.restore(DeletedFile.objects.get(id=deleted["id"]), user.id)
    assert text_of(workspace, "gone.txt") == "bye\n"
    checkpoints.restore(checkpoint, user.id)
    assert text_of(workspace, "app.py") == APP  # the pull undone in the live files


@pytest.mark.django_db
def test_a_pull_onto_local_commits_makes_a_merge_commit(user, origin, tmp_path):
    workspace = cloned_workspace(user, origin)
    create_file_with_text(workspace, "local.txt", "local\n")
    local = working.commit(user, workspace.id, "Local work")["commit"]
    theirs = upstream_change(origin, tmp_path / "upstream", {"remote.txt": b"remote\n"})
    operation = run_operation(user, workspace.id, "pull")
    head = operation.result["commit"]
    parents = git("rev-list", "--parents", "-n", "1", head, cwd=repository_path(workspace.id)).split()[1:]
    assert parents == [local, theirs]
    assert text_of(workspace, "remote.txt") == "remote\n"
    assert working.status(workspace.id)["changes"] == []


@pytest.mark.django_db
def test_a_pull_whose_remote_commits_conflict_with_local_commits_merges_keeping_both_and_reports_conflicts(
    user, origin, tmp_path
):
    workspace = cloned_workspace(user, origin)
    app = FileNode.objects.get(workspace=workspace, path="app.py")
    store.replace_text(app.id, APP.replace("line 3\n", "line 3 local\n"), Author(user.id))
    delete_file(FileNode.objects.get(workspace=workspace, path="gone.txt"))
    local = working.commit(user, workspace.id, "Local work")["commit"]
    remote_app = APP.replace("line 3\n", "line 3 remote\n").replace("line 8\n", "line 8 remote\n")
    theirs = upstream_change(origin, tmp_path / "upstream", {"app.py": remote_app.encode(), "gone.txt": b"changed\n"})
    operation = run_operation(user, workspace.id, "pull")
    head = operation.result["commit"]
    bare = repository_path(workspace.id)
    assert git("rev-list", "--parents", "-n", "1", head, cwd=bare).split()[1:] == [local, theirs]
    merged = APP.replace("line 3\n", "line 3 local\n").replace("line 8\n", "line 8 remote\n")
    assert git("show", f"{head}:app.py", cwd=bare) == merged  # the clean hunk taken, the conflicting one ours
    assert "gone.txt" not in git("ls-tree", "--name-only", head, cwd=bare).split()
    assert "Conflicts" in git("log", "-1", "--format=%B", head, cwd=bare)
    outcomes = {item["path"]: item for item in operation.result["files"]}
    assert outcomes["app.py"]["status"] == "conflict"
    assert [(c["ours"], c["theirs"]) for c in outcomes["app.py"]["conflicts"]] == [
        ("line 3 local\n", "line 3 remote\n")
    ]
    assert outcomes["gone.txt"]["status"] == "conflict" and "deleted here" in outcomes["gone.txt"]["message"]
    assert text_of(workspace, "app.py") == merged
    assert working.status(workspace.id)["changes"] == []
    assert git("show", f"{theirs}:app.py", cwd=bare) == remote_app  # nothing lost: the remote's side is a parent


@pytest.mark.django_db(transaction=True)
async def test_a_pull_merges_a_remote_change_while_a_client_types_in_the_same_file(user, origin, tmp_path):
    workspace = await database_sync_to_async(cloned_workspace)(user, origin)
    app = await database_sync_to_async(FileNode.objects.get)(workspace=workspace, path="app.py")
    await database_sync_to_async(upstream_change)(
        origin, tmp_path / "upstream", {"app.py": APP.replace("line 10\n", "line 10 (remote)\n").encode()}
    )
    client = YClient(app.id, user=user)
    assert await client.connect()
    await client.sync()
    try:
        pulling = asyncio.ensure_future(database_sync_to_async(run_operation)(user, workspace.id, "pull"))
        typed = ""
        for letter in "typing while pulling":
            client.text.insert(6 + len(typed), letter)  # at the end of "line 1"
            typed += letter
            await client.flush()
            await asyncio.sleep(0.01)
        operation = await pulling
        expected = APP.replace("line 1\n", f"line 1{typed}\n", 1).replace("line 10\n", "line 10 (remote)\n")
        await client.pump_until(lambda: str(client.text) == expected, timeout=10)
    finally:
        await client.close()
    assert operation.result["files"] == [{"path": "app.py", "status": "merged", "conflicts": []}]
    assert await database_sync_to_async(store.load_text)(app.id) == expected


@pytest.mark.django_db
def test_push_and_pull_need_a_repository_with_a_remote(user):
    workspace = create_workspace(user, "Plain", readme=False)
    with pytest.raises(working.GitError, match="no git repository"):
        sync.start(user, workspace.id, "pull", lambda _: None)
    working.initialise(user, workspace.id)
    with pytest.raises(working.GitError, match="no remote"):
        sync.start(user, workspace.id, "push", lambda _: None)


@pytest.mark.django_db
def test_edits_made_before_a_pull_are_still_credited_by_the_next_commit(user, origin, tmp_path):
    workspace = cloned_workspace(user, origin)
    bob = make_user("bob")
    store.replace_text(FileNode.objects.get(workspace=workspace, path="app.py").id, APP + "bob\n", Author(bob.id))
    upstream_change(origin, tmp_path / "upstream", {"remote.txt": b"remote\n"})
    run_operation(user, workspace.id, "pull")
    message = working.commit(user, workspace.id, "After the pull")["message"]
    assert message == "After the pull\n\nCo-authored-by: bob <bob@users.sparkroom.invalid>\n"


@pytest.mark.django_db
def test_a_push_whose_worker_never_ran_is_reaped_after_the_timeout_so_a_new_one_can_start(user, origin, settings):
    settings.GIT_OPERATION_TIMEOUT_SECONDS = 60
    workspace = cloned_workspace(user, origin)
    create_file_with_text(workspace, "new.py", "print('new')\n", author=Author(user.id))
    working.commit(user, workspace.id, "Add new.py")
    lost = sync.start(user, workspace.id, "push", lambda _: None)  # its message never reaches a worker
    with pytest.raises(working.GitError, match="already under way"):
        sync.start(user, workspace.id, "pull", lambda _: None)
    # A worker claimed it, then died: still "running", started longer ago than the timeout.
    GitOperation.objects.filter(id=lost.id).update(status="running", started_at=timezone.now() - timedelta(seconds=61))
    lock = repository_path(workspace.id) / "refs" / "heads" / "main.lock"  # what a killed `git update-ref` leaves
    lock.write_text("")
    os.utime(lock, (time.time() - 120, time.time() - 120))
    fresh_lock = repository_path(workspace.id) / "packed-refs.lock"  # a live git's: not touched
    fresh_lock.write_text("")
    operation = run_operation(user, workspace.id, "push")  # start() reaped the dead one first
    reaped = GitOperation.objects.get(id=lost.id)
    assert reaped.status == "failed" and reaped.finished_at is not None
    assert "GIT_OPERATION_TIMEOUT_SECONDS" in reaped.error and "Start the push again" in reaped.error
    assert not lock.exists() and fresh_lock.exists()
    assert git("rev-parse", "main", cwd=origin).strip() == operation.result["commit"]
    assert sync.run(lost.id) == "not claimed"  # a late message for it does nothing


@pytest.mark.django_db
def test_the_periodic_reaper_fails_operations_queued_or_running_past_the_timeout_and_leaves_the_others(
    user, origin, settings
):
    settings.GIT_OPERATION_TIMEOUT_SECONDS = 60
    workspaces = [cloned_workspace(user, origin) for _ in range(3)]
    old = timezone.now() - timedelta(seconds=61)
    queued = GitOperation.objects.create(workspace=workspaces[0], user=user, kind="pull")
    GitOperation.objects.filter(id=queued.id).update(created_at=old)
    running = GitOperation.objects.create(workspace=workspaces[1], user=user, kind="push", status="running")
    GitOperation.objects.filter(id=running.id).update(created_at=old, started_at=old)
    recent = GitOperation.objects.create(
        workspace=workspaces[2], user=user, kind="pull", status="running", started_at=timezone.now()
    )
    assert sorted(sync.reap_stuck_operations()) == sorted([queued.id, running.id])
    assert GitOperation.objects.get(id=queued.id).error.startswith("This pull was queued for longer than 60 s")
    assert GitOperation.objects.get(id=running.id).error.startswith("This push was running for longer than 60 s")
    assert GitOperation.objects.get(id=recent.id).status == "running"
    assert sync.reap_stuck_operations() == []
