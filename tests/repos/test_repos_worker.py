"""Imports end to end in production mode: the JSON API queues them, a real `celery worker` runs them, and the
workspace channel carries their progress, their end and the new tree."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient

from tests.support.repos_data import make_repository, zip_bytes
from tests.support.wsjson import joined
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace
from workspace.repos.models import ImportJob, Repository

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

FILES = {f"pkg/mod{i:03}.py": f"VALUE = {i}\n".encode() for i in range(300)}  # more than one batch


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("repos-worker")


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, shared):
    from tests.support.live import celery_worker

    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    (django_settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    env = {"REPOS_DATA_DIR": str(shared / "repos"), "REPOS_LOCAL_ROOTS": str(shared / "served")}
    with django_db_blocker.unblock(), celery_worker(concurrency=1, **env) as proc:
        yield proc


@pytest.fixture(autouse=True)
def same_directories(settings, shared):
    settings.REPOS_DATA_DIR = shared / "repos"
    settings.REPOS_LOCAL_ROOTS = [shared / "served"]


async def editor_client(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def of(import_id: int, kind: str):
    return lambda m: m["type"] == kind and m["import"]["id"] == import_id


async def test_an_uploaded_archive_is_imported_by_the_worker_with_live_progress(worker, user):
    workspace = await database_sync_to_async(create_workspace)(user, "Upload", readme=False)
    channel = await joined(workspace, user)
    client = await editor_client(user)
    try:
        upload = SimpleUploadedFile("many.zip", zip_bytes(FILES))
        response = await client.post(f"/api/workspaces/{workspace.id}/import", {"archive": upload})
        assert response.status_code == 200, response.content
        import_id = response.json()["id"]
        finished = await channel.wait_for(of(import_id, "import.finished"), timeout=60)
    finally:
        await channel.close()
    assert finished["import"]["status"] == "succeeded", finished["import"]["error"]
    assert finished["import"]["summary"]["imported"] == 300
    steps = [m["import"] for m in channel.seen if of(import_id, "import.progress")(m)]
    assert steps[0]["status"] == "queued"
    assert {"reading the archive", "importing files"} <= {step["step"] for step in steps}
    done = [step["files_done"] for step in steps]
    assert done == sorted(done) and steps[-1]["files_total"] == 300
    # The new tree is sent before the end of the import.
    tree = next(m for m in reversed(channel.seen) if m["type"] == "files.changed")
    assert len([entry for entry in tree["files"] if not entry["is_folder"]]) == 300
    stored = await database_sync_to_async(ImportJob.objects.get)(id=import_id)
    assert stored.status == "succeeded" and stored.attempts == 1 and stored.heartbeat_at is not None


async def test_a_clone_by_file_url_runs_on_the_worker_and_leaves_a_repository(worker, user, shared):
    origin = await database_sync_to_async(make_repository)(shared / "served" / f"r{user.id}", [FILES])
    workspace = await database_sync_to_async(create_workspace)(user, "Clone", readme=False)
    channel = await joined(workspace, user)
    client = await editor_client(user)
    try:
        body = json.dumps({"git_url": origin.as_uri(), "ref": "main"})
        response = await client.post(f"/api/workspaces/{workspace.id}/import", body, content_type="application/json")
        assert response.status_code == 200, response.content
        import_id = response.json()["id"]
        finished = await channel.wait_for(of(import_id, "import.finished"), timeout=60)
    finally:
        await channel.close()
    assert finished["import"]["status"] == "succeeded", finished["import"]["error"]
    assert "cloning" in {m["import"]["step"] for m in channel.seen if of(import_id, "import.progress")(m)}
    repository = await database_sync_to_async(Repository.objects.get)(workspace=workspace)
    assert repository.branch == "main" and repository.path.is_dir()
    count = await database_sync_to_async(FileNode.objects.filter(workspace=workspace, is_folder=False).count)()
    assert count == 300
