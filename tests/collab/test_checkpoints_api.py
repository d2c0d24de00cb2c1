"""The checkpoints and deleted-files API: create, list, show (what differs now), restore whole or one path, delete
(the owner's, manual ones only), deleted files restored at their path or a new one; all in the OpenAPI schema.
Every role against every route is in tests/projects/test_authz_matrix.py."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.support.helpers import make_member, make_user
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, url: str, body: dict | None = None):
    return client.generic(method, url, json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def shared(user):
    """Alice's workspace with app.py, Bob an editor in it."""
    workspace = create_workspace(user, "Shared", readme=False)
    app = create_file_with_text(workspace, "app.py", "v = 1\n")
    bob = make_user("bob")
    make_member(workspace, bob, "editor")
    return workspace, app, client_for(user), client_for(bob)


def test_an_editor_creates_a_named_checkpoint_and_everyone_lists_it(shared):
    workspace, _, alice, bob = shared
    made = send(bob, "POST", f"/api/workspaces/{workspace.id}/checkpoints", {"name": "before refactor"})
    assert made.status_code == 200
    assert made.json() | {"created_at": None} == {
        "id": made.json()["id"],
        "kind": "manual",
        "name": "before refactor",
        "reason": "",
        "created_by": "bob",
        "created_at": None,
    }
    listed = alice.get(f"/api/workspaces/{workspace.id}/checkpoints").json()
    assert [(c["name"], c["created_by"]) for c in listed] == [("before refactor", "bob")]
    nameless = send(bob, "POST", f"/api/workspaces/{workspace.id}/checkpoints", {"name": ""})
    assert nameless.status_code == 400 and "Name" in nameless.json()["detail"]


def test_a_checkpoint_shows_its_files_and_restores_whole_or_one_path(shared):
    workspace, app, alice, bob = shared
    checkpoint = send(alice, "POST", f"/api/workspaces/{workspace.id}/checkpoints", {"name": "good"}).json()
    store.replace_text(app.id, "v = 2\n")
    create_file_with_text(workspace, "new.py", "n\n")
    shown = alice.get(f"/api/checkpoints/{checkpoint['id']}").json()
    assert shown["files"] == [{"path": "app.py", "kind": "text", "size": 6, "state": "differs"}]
    assert shown["created_since"] == ["new.py"]

    one = send(bob, "POST", f"/api/checkpoints/{checkpoint['id']}/restore", {"path": "app.py"}).json()
    assert one["files"] == [{"path": "app.py", "status": "restored", "conflicts": []}]
    assert one["created_since"] == []  # a one-file restore says nothing of other files
    assert store.load_text(app.id) == "v = 1\n"
    missing = send(bob, "POST", f"/api/checkpoints/{checkpoint['id']}/restore", {"path": "nope.py"})
    assert missing.status_code == 400 and "not in this checkpoint" in missing.json()["detail"]

    whole = send(bob, "POST", f"/api/checkpoints/{checkpoint['id']}/restore", {"remove_created": True}).json()
    assert whole["removed"] == ["new.py"]
    # Each restore took an automatic checkpoint first, listed with its reason.
    reasons = [
        c["reason"] for c in alice.get(f"/api/workspaces/{workspace.id}/checkpoints").json() if c["kind"] == "auto"
    ]
    assert reasons == [
        f"before restoring checkpoint #{checkpoint['id']}",
        f"before restoring checkpoint #{checkpoint['id']} (app.py)",
    ]


def test_only_the_owner_deletes_and_only_manual_checkpoints(shared):
    workspace, _, alice, bob = shared
    manual = send(alice, "POST", f"/api/workspaces/{workspace.id}/checkpoints", {"name": "mine"}).json()
    assert send(bob, "DELETE", f"/api/checkpoints/{manual['id']}").status_code == 403
    assert send(alice, "DELETE", f"/api/checkpoints/{manual['id']}").json() == {"deleted": manual["id"]}
    assert alice.get(f"/api/checkpoints/{manual['id']}").status_code == 404
    assert send(bob, "POST", f"/api/checkpoints/{manual['id']}/restore").status_code == 404  # gone
    create = send(alice, "POST", f"/api/workspaces/{workspace.id}/checkpoints", {"name": "x"}).json()
    restored = send(alice, "POST", f"/api/checkpoints/{create['id']}/restore").json()
    refused = send(alice, "DELETE", f"/api/checkpoints/{restored['undo_checkpoint']}")
    assert refused.status_code == 400 and "retention" in refused.json()["detail"]


def test_a_deleted_file_is_listed_and_restored_or_refused_clearly_when_its_path_is_taken(shared):
    workspace, app, alice, bob = shared
    assert send(bob, "DELETE", f"/api/files/{app.id}").json() == {"deleted": 1}
    [deleted] = alice.get(f"/api/workspaces/{workspace.id}/deleted-files").json()
    assert (deleted["path"], deleted["deleted_by"], deleted["size"]) == ("app.py", "bob", 6)
    send(alice, "POST", f"/api/workspaces/{workspace.id}/files", {"path": "app.py", "content": "other\n"})
    taken = send(bob, "POST", f"/api/deleted-files/{deleted['id']}/restore")
    assert taken.status_code == 400 and "give a new path" in taken.json()["detail"]
    restored = send(bob, "POST", f"/api/deleted-files/{deleted['id']}/restore", {"path": "old/app.py"}).json()
    assert restored["path"] == "old/app.py"
    assert store.load_text(FileNode.objects.get(id=restored["id"]).id) == "v = 1\n"
    assert alice.get(f"/api/workspaces/{workspace.id}/deleted-files").json() == []


def test_the_routes_are_in_the_openapi_schema(shared):
    _, _, alice, _ = shared
    paths = alice.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/workspaces/{workspace_id}/checkpoints",
        "/api/checkpoints/{checkpoint_id}",
        "/api/checkpoints/{checkpoint_id}/restore",
        "/api/workspaces/{workspace_id}/deleted-files",
        "/api/deleted-files/{deleted_id}/restore",
    ):
        assert path in paths
