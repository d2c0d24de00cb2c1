"""Timeline JSON API: viewers list versions, read and diff them; editors restore a version or one hunk and undo a
restore; a diff's live text folded away meanwhile is a 409; every route is in the OpenAPI schema."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.support.file_history import time_all, write
from tests.support.helpers import make_member, make_user
from workspace.collab import store
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.files import create_file_with_text
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

ORIGINAL = "one\ntwo\nthree\n"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict | None = None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def setup(db):
    alice, bob, viola = make_user("alice"), make_user("bob"), make_user("viola")
    workspace = create_workspace(alice, "API")
    make_member(workspace, bob, Role.EDITOR)
    make_member(workspace, viola, Role.VIEWER)
    node = create_file_with_text(workspace, "main.py", ORIGINAL)
    time_all(node.id, timezone.now() - timedelta(hours=1))

    def edit(text):
        del text[0:3]
        text.insert(0, "ONE")
        position = len(str(text)) - len("three\n")
        del text[position : position + 5]
        text.insert(position, "THREE")

    write(node.id, Author(alice.id, HUMAN), edit)
    return node, bob, viola


def test_a_viewer_lists_reads_and_diffs_versions_but_may_not_restore(setup):
    node, _, viola = setup
    client = logged_in(viola)
    timeline = client.get(f"/api/files/{node.id}/versions").json()
    assert [v["participants"][0]["name"] for v in timeline["versions"]] == ["alice", "Sparkroom"]
    first = timeline["versions"][-1]["id"]
    assert client.get(f"/api/files/{node.id}/versions/{first}").json()["text"] == ORIGINAL
    diff = client.get(f"/api/files/{node.id}/versions/{first}/diff").json()
    assert (diff["old_text"], diff["new_text"]) == (ORIGINAL, "ONE\ntwo\nTHREE\n")
    assert [(h["old_start"], h["old_end"]) for h in diff["hunks"]] == [(0, 1), (2, 3)]
    between = client.get(f"/api/files/{node.id}/versions/{first}/diff?against={timeline['versions'][0]['id']}")
    assert between.json()["new_id"] == timeline["versions"][0]["id"]
    assert post(client, f"/api/files/{node.id}/versions/{first}/restore").status_code == 403
    assert client.get(f"/api/files/{node.id}/versions/{first + 10_000}").status_code == 404


def test_an_editor_restores_one_hunk_then_undoes_it(setup):
    node, bob, _ = setup
    client = logged_in(bob)
    first = client.get(f"/api/files/{node.id}/versions").json()["versions"][-1]["id"]
    diff = client.get(f"/api/files/{node.id}/versions/{first}/diff").json()
    body = {"hunks": [1], "live_update_id": diff["live_update_id"]}
    restored = post(client, f"/api/files/{node.id}/versions/{first}/restore", body)
    assert restored.status_code == 200 and restored.json()["conflicts"] == []
    assert store.load_text(node.id) == "ONE\ntwo\nthree\n"
    listed = client.get(f"/api/files/{node.id}/versions").json()
    assert listed["restores"][0]["id"] == restored.json()["restore_id"]
    assert listed["restores"][0]["whole"] is False and listed["restores"][0]["user"] == "bob"
    undo = post(client, f"/api/files/{node.id}/restores/{restored.json()['restore_id']}/undo")
    assert undo.status_code == 200 and store.load_text(node.id) == "ONE\ntwo\nTHREE\n"
    assert post(client, f"/api/files/{node.id}/restores/{restored.json()['restore_id']}/undo").status_code == 400
    assert post(client, f"/api/files/{node.id}/versions/{first}/restore", {"hunks": [7]}).status_code == 400


def test_restoring_hunks_of_a_diff_whose_live_text_was_folded_away_is_a_conflict(setup):
    node, bob, _ = setup
    client = logged_in(bob)
    first = client.get(f"/api/files/{node.id}/versions").json()["versions"][-1]["id"]
    diff = client.get(f"/api/files/{node.id}/versions/{first}/diff").json()
    write(node.id, Author(bob.id, HUMAN), lambda text: text.insert(0, "# more\n"))
    store.compact(node.id)
    body = {"hunks": [0], "live_update_id": diff["live_update_id"]}
    assert post(client, f"/api/files/{node.id}/versions/{first}/restore", body).status_code == 409


def test_the_history_routes_are_in_the_openapi_schema(setup):
    node, bob, _ = setup
    paths = logged_in(bob).get("/api/openapi.json").json()["paths"]
    assert {"get"} <= set(paths["/api/files/{file_id}/versions"])
    assert {"get"} <= set(paths["/api/files/{file_id}/versions/{version_id}"])
    assert {"get"} <= set(paths["/api/files/{file_id}/versions/{version_id}/diff"])
    assert {"post"} <= set(paths["/api/files/{file_id}/versions/{version_id}/restore"])
    assert {"post"} <= set(paths["/api/files/{file_id}/restores/{restore_id}/undo"])
