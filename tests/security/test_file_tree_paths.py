"""File-tree paths: folder operations match exactly (case, LIKE wildcards) on SQLite and PostgreSQL alike, and a
name no file system can hold (over 255 bytes) or an over-long path is refused when it is created or renamed to."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from workspace.projects import services
from workspace.projects.models import FileNode

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def paths(workspace) -> list[str]:
    return sorted(FileNode.objects.filter(workspace=workspace).values_list("path", flat=True))


def folder(workspace, path: str) -> FileNode:
    return FileNode.objects.get(workspace=workspace, path=path)


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def workspace(user):
    return services.create_workspace(user, "W")


def test_renaming_a_folder_leaves_a_folder_differing_only_in_case_alone(workspace):
    services.create_file(workspace, "src/a.py")
    services.create_file(workspace, "SRC/keep_me.py")
    services.rename_file(folder(workspace, "src"), "lib")
    assert paths(workspace) == ["README.md", "SRC", "SRC/keep_me.py", "lib", "lib/a.py"]


def test_deleting_a_folder_leaves_a_folder_differing_only_in_case_alone(workspace):
    services.create_file(workspace, "src/a.py")
    services.create_file(workspace, "SRC/keep_me.py")
    assert services.delete_file(folder(workspace, "src")) == 2
    assert paths(workspace) == ["README.md", "SRC", "SRC/keep_me.py"]


def test_renaming_a_folder_when_the_same_file_exists_in_another_case_works_over_the_api(workspace, user):
    services.create_file(workspace, "src/x.py")
    services.create_file(workspace, "SRC/x.py")
    response = api(user).patch(
        f"/api/files/{folder(workspace, 'src').id}", json.dumps({"path": "dst"}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert paths(workspace) == ["README.md", "SRC", "SRC/x.py", "dst", "dst/x.py"]


@pytest.mark.parametrize(("target", "bystander"), [("a_b", "aXb/x.py"), ("a%b", "a%Xb/x.py"), ("src", "src.py")])
def test_folder_operations_treat_like_wildcards_and_siblings_literally(workspace, target, bystander):
    services.create_file(workspace, f"{target}/inside.py")
    services.create_file(workspace, bystander)
    services.rename_file(folder(workspace, target), "moved")
    assert bystander in paths(workspace) and "moved/inside.py" in paths(workspace)
    services.delete_file(folder(workspace, "moved"))
    assert bystander in paths(workspace) and not any(p.startswith("moved") for p in paths(workspace))


def test_a_nested_folder_rename_moves_exactly_its_own_subtree(workspace):
    for path in ("a/b/c.py", "a/B/c.py", "a/bb/c.py", "A/b/c.py"):
        services.create_file(workspace, path)
    services.rename_file(folder(workspace, "a/b"), "a/z")
    assert paths(workspace) == [
        "A", "A/b", "A/b/c.py", "README.md", "a", "a/B", "a/B/c.py", "a/bb", "a/bb/c.py", "a/z", "a/z/c.py",
    ]  # fmt: skip


# --- names and paths too long for a file system ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a" * 256, "é" * 128, "€" * 86, "😀" * 64 + "a"],
    ids=["256-ascii", "256-bytes-of-2-byte-chars", "258-bytes-of-3-byte-chars", "257-bytes-of-emoji"],
)
def test_a_name_over_255_bytes_is_refused_at_creation(workspace, name):
    for path in (name, f"src/{name}", f"{name}/x.py"):
        with pytest.raises(services.FileTreeError, match="255 bytes"):
            services.create_file(workspace, path)
    assert paths(workspace) == ["README.md"]


def test_a_name_of_exactly_255_bytes_is_accepted(workspace):
    services.create_file(workspace, "src/" + "€" * 85)  # 255 bytes
    services.create_file(workspace, "b" * 252 + ".py")
    assert len(paths(workspace)) == 4


def test_renaming_to_a_name_over_255_bytes_is_refused_and_changes_nothing(workspace):
    node = services.create_file(workspace, "src/a.py")
    with pytest.raises(services.FileTreeError, match="255 bytes"):
        services.rename_file(node, "src/" + "x" * 300 + ".py")
    node.refresh_from_db()
    assert node.path == "src/a.py"


def test_a_path_over_the_byte_limit_is_refused_even_when_each_name_fits(workspace):
    deep = "/".join(["€" * 80] * 5)  # 400 characters, 1204 bytes
    assert len(deep) <= services.MAX_PATH_LENGTH < len(deep.encode())
    with pytest.raises(services.FileTreeError, match="too long"):
        services.create_file(workspace, deep)


def test_a_folder_rename_that_would_push_a_child_over_the_limits_is_refused_whole(workspace):
    services.create_file(workspace, "f/" + "/".join(["€" * 80] * 4))  # fits: 975 bytes
    with pytest.raises(services.FileTreeError, match="too long"):
        services.rename_file(folder(workspace, "f"), "g" * 100)
    assert all(p == "README.md" or p.startswith("f") for p in paths(workspace))


def test_the_api_refuses_a_long_name_with_a_400_and_a_clear_message(workspace, user):
    response = api(user).post(
        f"/api/workspaces/{workspace.id}/files", json.dumps({"path": "x" * 300}), content_type="application/json"
    )
    assert response.status_code == 400
    assert "at most 255 bytes" in response.json()["detail"]


def test_a_lone_surrogate_in_a_path_is_refused_not_a_server_error(workspace, user):
    response = api(user).post(
        f"/api/workspaces/{workspace.id}/files", '{"path": "bad\\ud800.py"}', content_type="application/json"
    )
    assert response.status_code == 400, response.content
