"""Workspaces, roles and the file tree: services and the JSON API."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.support.helpers import PASSWORD, make_member, make_user
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.projects import guard, services
from workspace.projects.models import FileNode, Role

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def api_client(user) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_creating_a_workspace_makes_the_creator_owner_with_a_readme(user):
    workspace = services.create_workspace(user, "  Demo  ")
    assert workspace.name == "Demo"
    assert guard.role_of(user, workspace.id) == Role.OWNER
    assert [f["path"] for f in services.file_tree(workspace.id)] == ["README.md"]


@pytest.mark.parametrize("bad", ["", "/abs.py", "../up.py", "a/../b.py", "a//b.py", "./x.py", "a\x00b"])
def test_paths_that_could_escape_or_are_invalid_are_refused(user, bad):
    workspace = services.create_workspace(user, "W")
    with pytest.raises(services.FileTreeError):
        services.create_file(workspace, bad)


def test_creating_a_nested_file_creates_its_folders(user):
    workspace = services.create_workspace(user, "W")
    create_file_with_text(workspace, "src/pkg/mod.py", "x = 1\n")
    tree = {f["path"]: f["is_folder"] for f in services.file_tree(workspace.id)}
    assert tree["src"] is True and tree["src/pkg"] is True and tree["src/pkg/mod.py"] is False


def test_content_given_at_creation_is_stored_in_the_crdt(user):
    workspace = services.create_workspace(user, "W")
    node = create_file_with_text(workspace, "a.py", "print(1)\n")
    assert store.load_text(node.id) == "print(1)\n"


def test_renaming_a_folder_moves_everything_below_it(user):
    workspace = services.create_workspace(user, "W")
    services.create_file(workspace, "src/a.py")
    services.create_file(workspace, "src/sub/b.py")
    folder = FileNode.objects.get(workspace=workspace, path="src")
    services.rename_file(folder, "lib")
    paths = sorted(FileNode.objects.filter(workspace=workspace).values_list("path", flat=True))
    assert paths == ["README.md", "lib", "lib/a.py", "lib/sub", "lib/sub/b.py"]


def test_a_folder_cannot_move_inside_itself(user):
    workspace = services.create_workspace(user, "W")
    services.create_file(workspace, "src", is_folder=True)
    with pytest.raises(services.FileTreeError):
        services.rename_file(FileNode.objects.get(workspace=workspace, path="src"), "src/inner")


def test_renaming_onto_an_existing_path_is_refused(user):
    workspace = services.create_workspace(user, "W")
    node = services.create_file(workspace, "a.py")
    with pytest.raises(services.FileTreeError, match="already exists"):
        services.rename_file(node, "README.md")


def test_deleting_a_folder_deletes_its_contents(user):
    workspace = services.create_workspace(user, "W")
    services.create_file(workspace, "src/a.py")
    services.create_file(workspace, "src/b.py")
    assert services.delete_file(FileNode.objects.get(workspace=workspace, path="src")) == 3
    assert list(FileNode.objects.filter(workspace=workspace).values_list("path", flat=True)) == ["README.md"]


def test_api_file_lifecycle_for_an_editor(user, other_user):
    workspace = services.create_workspace(user, "W")
    make_member(workspace, other_user, Role.EDITOR)
    client = api_client(other_user)
    created = client.post(
        f"/api/workspaces/{workspace.id}/files",
        json.dumps({"path": "app/main.py", "content": "x = 1\n"}),
        content_type="application/json",
    )
    assert created.status_code == 200, created.content
    file_id = created.json()["id"]
    assert client.get(f"/api/files/{file_id}/text").json()["text"] == "x = 1\n"
    renamed = client.patch(f"/api/files/{file_id}", json.dumps({"path": "app/run.py"}), content_type="application/json")
    assert renamed.json()["path"] == "app/run.py"
    assert client.delete(f"/api/files/{file_id}").json() == {"deleted": 1}


def test_api_refuses_viewers_writes_with_403(user, other_user):
    workspace = services.create_workspace(user, "W")
    make_member(workspace, other_user, Role.VIEWER)
    client = api_client(other_user)
    response = client.post(
        f"/api/workspaces/{workspace.id}/files", json.dumps({"path": "x.py"}), content_type="application/json"
    )
    assert response.status_code == 403
    assert client.get(f"/api/workspaces/{workspace.id}/files").status_code == 200


def test_api_hides_other_workspaces_with_404(user, other_user):
    workspace = services.create_workspace(user, "W")
    readme = FileNode.objects.get(workspace=workspace, path="README.md")
    client = api_client(other_user)
    assert client.get(f"/api/workspaces/{workspace.id}/files").status_code == 404
    assert client.get(f"/api/files/{readme.id}/text").status_code == 404
    assert client.post(f"/api/files/{readme.id}/token").status_code == 404


def test_api_bad_path_gives_a_clear_400(user):
    workspace = services.create_workspace(user, "W")
    response = api_client(user).post(
        f"/api/workspaces/{workspace.id}/files", json.dumps({"path": "../etc/passwd"}), content_type="application/json"
    )
    assert response.status_code == 400
    assert "Invalid path" in response.json()["detail"]


def test_api_requires_login():
    assert Client().get("/api/workspaces").status_code == 401


def test_api_enforces_csrf_for_session_clients(user):
    workspace = services.create_workspace(user, "W")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        f"/api/workspaces/{workspace.id}/files", json.dumps({"path": "x.py"}), content_type="application/json"
    )
    assert response.status_code == 403


def test_room_token_describes_how_to_join(user):
    workspace = services.create_workspace(user, "W")
    readme = FileNode.objects.get(workspace=workspace, path="README.md")
    data = api_client(user).post(f"/api/files/{readme.id}/token").json()
    assert data["server_url"].endswith("/ws/yjs") and data["room"] == str(readme.id)
    assert data["text_name"] == "content" and data["token"]


def test_signup_logs_in_and_home_lists_workspaces():
    client = Client()
    response = client.post(
        "/accounts/signup/", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert response.context["user"].username == "newbie"
    response = client.post("/", {"name": "First"}, follow=True)
    assert response.redirect_chain[-1][0].startswith("/w/")


def test_editor_page_is_404_for_non_members(user):
    workspace = services.create_workspace(user, "W")
    stranger = make_user("stranger")
    assert api_client(stranger).get(f"/w/{workspace.id}/").status_code == 404
    assert api_client(user).get(f"/w/{workspace.id}/").status_code == 200


def test_login_page_and_admin_are_served():
    assert Client().get("/accounts/login/").status_code == 200
    assert Client().get("/admin/login/").status_code == 200


def test_admin_lists_every_core_model(user):
    user.is_staff = user.is_superuser = True
    user.save()
    client = api_client(user)
    for url in (
        "/admin/projects/workspace/",
        "/admin/projects/filenode/",
        "/admin/projects/membership/",
        "/admin/collab/docstate/",
        "/admin/collab/docupdate/",
        "/admin/realtime/presence/",
    ):
        assert client.get(url).status_code == 200, url
