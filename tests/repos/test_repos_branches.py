"""Branch switches: refused while others are in the workspace until confirmed (naming them, also over HTTP as a
409), one write per file stored for the switching user and seen live by an open client, and undoable: the undo
points HEAD back and restores the exact live texts from before (created files removed, deleted ones back, stored
files' bytes back), keeping an edit made since the switch; refused once the workspace moved on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.support.helpers import make_user
from tests.support.repos_data import PNG, git, make_repository
from tests.support.yclient import YClient
from workspace.collab import store
from workspace.collab.attribution import GIT, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.models import DocUpdate
from workspace.projects.models import FileNode, Membership, Role
from workspace.projects.services import create_workspace, delete_file
from workspace.realtime import presence
from workspace.repos import branches, importer, working
from workspace.repos.blobs import new_blob, stored_bytes
from workspace.repos.git import GitError
from workspace.repos.models import Repository, repository_path

pytestmark = [pytest.mark.embedded]

README = "# one\nsecond line\nthird line\n"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    settings.REPOS_LOCAL_ROOTS = [tmp_path / "served"]
    monkeypatch.setattr("tasks.repos.enqueue", lambda import_id: None)


@pytest.fixture
def origin(tmp_path) -> Path:
    files = {"README.md": README.encode(), "logo.png": PNG, "old.txt": b"old\n"}
    return make_repository(tmp_path / "served", [files])


def node(workspace, path: str) -> FileNode:
    return FileNode.objects.get(workspace=workspace, path=path)


def with_feature_branch(user, origin: Path):
    """A cloned workspace on main, with a committed branch `feature` that changes every kind of file."""
    workspace = create_workspace(user, "Branches", readme=False)
    importer.run_import(importer.create_git_import(user, workspace.id, git_url=str(origin)).id)
    branches.create_branch(workspace.id, "feature")
    branches.switch(user, workspace.id, "feature")
    store.replace_text(node(workspace, "README.md").id, README.replace("second", "2nd (feature)"), Author(user.id))
    create_file_with_text(workspace, "feature.txt", "only on feature\n")
    delete_file(node(workspace, "old.txt"))
    new_blob(node(workspace, "logo.png"), PNG + b"feature").save()
    working.commit(user, workspace.id, "Feature work")
    branches.switch(user, workspace.id, "main")
    return workspace


def live_state(workspace) -> dict[str, object]:
    state = {}
    for file in FileNode.objects.filter(workspace=workspace, is_folder=False).order_by("path"):
        state[file.path] = store.load_text(file.id) if file.kind == "text" else stored_bytes(file)
    return state


@pytest.mark.django_db
def test_a_switch_while_others_are_in_the_workspace_is_refused_naming_them_until_confirmed(user, origin):
    workspace = with_feature_branch(user, origin)
    bob, carol = make_user("bob"), make_user("carol")
    for person in (bob, carol):
        Membership.objects.create(workspace=workspace, user=person, role=Role.EDITOR)
    presence.join("channel-alice", workspace.id, user.id)
    presence.join("channel-bob", workspace.id, bob.id)
    presence.join("channel-carol", workspace.id, carol.id)
    with pytest.raises(branches.ConfirmFirst, match="bob, carol are editing") as refused:
        branches.switch(user, workspace.id, "feature")
    assert refused.value.editing == ["bob", "carol"]  # the switching user is not named
    assert Repository.objects.get(workspace=workspace).branch == "main"  # nothing written
    client = Client()
    client.force_login(user)
    url = f"/api/workspaces/{workspace.id}/git/switch"
    answer = client.post(url, {"name": "feature"}, content_type="application/json")
    assert answer.status_code == 409 and answer.json()["editing"] == ["bob", "carol"]
    answer = client.post(url, {"name": "feature", "confirm": True}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    switch_id = answer.json()["switch"]
    assert client.get(f"/api/workspaces/{workspace.id}/git").json()["switch"]["id"] == switch_id
    undo = f"/api/workspaces/{workspace.id}/git/switch/undo"
    answer = client.post(undo, {"switch_id": switch_id}, content_type="application/json")
    assert answer.status_code == 409 and answer.json()["editing"] == ["bob", "carol"]
    answer = client.post(undo, {"switch_id": switch_id, "confirm": True}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["branch"] == "main"
    assert client.get(f"/api/workspaces/{workspace.id}/git").json()["switch"] is None


@pytest.mark.django_db
def test_a_switch_writes_once_per_file_for_the_switching_user_and_undo_restores_the_exact_live_state(user, origin):
    workspace = with_feature_branch(user, origin)
    before = live_state(workspace)
    head_before = Repository.objects.get(workspace=workspace).head_commit
    readme = node(workspace, "README.md")
    last_row = DocUpdate.objects.filter(file_id=readme.id).order_by("-id").values_list("id", flat=True).first()
    switched = branches.switch(user, workspace.id, "feature")
    rows = DocUpdate.objects.filter(file_id=readme.id, id__gt=last_row)
    assert list(rows.values_list("author_id", "origin_kind")) == [(user.id, GIT)]  # one write, for the user
    assert live_state(workspace) == {
        "README.md": README.replace("second", "2nd (feature)"),
        "feature.txt": "only on feature\n",
        "logo.png": PNG + b"feature",
    }
    undone = branches.undo_switch(user, workspace.id, switched["switch"])
    assert undone["branch"] == "main" and undone["commit"] == head_before
    assert {f["path"]: f["status"] for f in undone["files"]} == {
        "README.md": "merged",
        "feature.txt": "deleted",
        "logo.png": "merged",
        "old.txt": "added",
    }
    assert live_state(workspace) == before
    assert DocUpdate.objects.filter(file_id=readme.id, id__gt=last_row).count() == 2  # the switch's and the undo's
    repository = Repository.objects.get(workspace=workspace)
    assert (repository.branch, repository.head_commit) == ("main", head_before)
    assert git("symbolic-ref", "--short", "HEAD", cwd=repository_path(workspace.id)).strip() == "main"
    assert working.status(workspace.id)["changes"] == []
    with pytest.raises(GitError, match="undone already"):
        branches.undo_switch(user, workspace.id, switched["switch"])


@pytest.mark.django_db
def test_an_undo_keeps_an_edit_made_since_the_switch_and_is_refused_once_the_workspace_moved_on(user, origin):
    workspace = with_feature_branch(user, origin)
    switched = branches.switch(user, workspace.id, "feature")
    readme = node(workspace, "README.md")
    store.replace_text(readme.id, store.load_text(readme.id) + "added after the switch\n", Author(user.id))
    branches.undo_switch(user, workspace.id, switched["switch"])
    assert store.load_text(readme.id) == README + "added after the switch\n"
    working.commit(user, workspace.id, "Keep the line")
    again = branches.switch(user, workspace.id, "feature")
    store.replace_text(node(workspace, "feature.txt").id, "changed\n", Author(user.id))
    working.commit(user, workspace.id, "Moved on")
    assert branches.undoable_switch(workspace.id) is None
    with pytest.raises(GitError, match="moved on"):
        branches.undo_switch(user, workspace.id, again["switch"])
    with pytest.raises(GitError, match="undone already"):
        branches.undo_switch(user, workspace.id, switched["switch"])


@pytest.mark.django_db(transaction=True)
async def test_an_open_client_sees_the_switch_and_its_undo_live(user, origin):
    workspace = await database_sync_to_async(with_feature_branch)(user, origin)
    readme = await database_sync_to_async(node)(workspace, "README.md")
    client = YClient(readme.id, user=user)
    assert await client.connect()
    await client.sync()
    try:
        switched = await database_sync_to_async(branches.switch)(user, workspace.id, "feature")
        feature = README.replace("second", "2nd (feature)")
        await client.pump_until(lambda: str(client.text) == feature, timeout=15)
        await asyncio.sleep(0)
        await database_sync_to_async(branches.undo_switch)(user, workspace.id, switched["switch"])
        await client.pump_until(lambda: str(client.text) == README, timeout=15)
    finally:
        await client.close()
