"""The jobs HTTP API: who may do what, validation, cancel of a queued job, and applying a changeset."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.support.helpers import make_member, make_user
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.jobs.changeset import build_changeset
from workspace.jobs.models import Job, JobEvent
from workspace.jobs.snapshot import materialise, take_snapshot
from workspace.jobs.tools import WorkspaceTools
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_editor_creates_a_queued_job_and_members_see_it(workspace_with_file, user):
    workspace, _ = workspace_with_file
    viewer = make_user("vera")
    make_member(workspace, viewer, "viewer")
    response = post(client_for(user), f"/api/workspaces/{workspace.id}/jobs", {"kind": "tests"})
    assert response.status_code == 200, response.content
    created = response.json()
    assert created["status"] == "queued" and created["kind"] == "tests" and created["user"] == "alice"
    listed = client_for(viewer).get(f"/api/workspaces/{workspace.id}/jobs").json()
    assert [j["id"] for j in listed] == [created["id"]]
    detail = client_for(viewer).get(f"/api/jobs/{created['id']}").json()
    assert detail["events"][0]["kind"] == "status" and detail["events"][0]["message"] == "queued"
    assert detail["changeset"] == []


def test_viewer_cannot_create_and_strangers_get_404(workspace_with_file, user):
    workspace, _ = workspace_with_file
    viewer, stranger = make_user("vera"), make_user("sam")
    make_member(workspace, viewer, "viewer")
    assert post(client_for(viewer), f"/api/workspaces/{workspace.id}/jobs", {"kind": "tests"}).status_code == 403
    assert post(client_for(stranger), f"/api/workspaces/{workspace.id}/jobs", {"kind": "tests"}).status_code == 404
    job = Job.objects.create(workspace=workspace, user=user, kind="tests")
    assert client_for(stranger).get(f"/api/jobs/{job.id}").status_code == 404
    assert post(client_for(stranger), f"/api/jobs/{job.id}/cancel").status_code == 404
    assert post(client_for(viewer), f"/api/jobs/{job.id}/cancel").status_code == 403
    assert Client().get(f"/api/jobs/{job.id}").status_code == 401


def test_invalid_requests_are_refused_with_a_reason(workspace_with_file, user):
    workspace, _ = workspace_with_file
    client = client_for(user)
    bad_kind = post(client, f"/api/workspaces/{workspace.id}/jobs", {"kind": "rm -rf"})
    assert bad_kind.status_code == 400 and "unknown job kind" in bad_kind.json()["detail"]
    no_prompt = post(client, f"/api/workspaces/{workspace.id}/jobs", {"kind": "agent", "prompt": "  "})
    assert no_prompt.status_code == 400 and "needs a prompt" in no_prompt.json()["detail"]
    assert Job.objects.count() == 0


def test_cancel_of_a_queued_job_is_immediate_and_final(workspace_with_file, user):
    workspace, _ = workspace_with_file
    client = client_for(user)
    job_id = post(client, f"/api/workspaces/{workspace.id}/jobs", {"kind": "lint"}).json()["id"]
    cancelled = post(client, f"/api/jobs/{job_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    from workspace.jobs.runner import claim

    assert claim(job_id) is None  # a late task message finds nothing to run
    again = post(client, f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 400 and "already cancelled" in again.json()["detail"]


def succeeded_job(workspace, user, tmp_path, writes: dict[str, str]) -> Job:
    """A job as the runner leaves it: snapshot, the agent's writes in scratch, the changeset."""
    snapshot = take_snapshot(workspace.id)
    tools = WorkspaceTools(materialise(snapshot, tmp_path / "scratch"))
    for path, content in writes.items():
        tools.call("write_file", {"path": path, "content": content})
    changeset = build_changeset(snapshot, tools.root, tools.written)
    return Job.objects.create(
        workspace=workspace, user=user, kind="agent", status="succeeded", result={"changeset": changeset}
    )


def test_apply_merges_with_live_edits_reports_conflicts_and_creates_new_files(user, tmp_path):
    workspace = create_workspace(user, "Apply")
    app = create_file_with_text(workspace, "app.py", "a = 1\nb = 2\nc = 3\nd = 4\n")
    job = succeeded_job(
        workspace, user, tmp_path, {"app.py": "a = 1\nb = 2\nc = 3\nd = 40\n", "README.md": "job\n", "new.py": "n\n"}
    )
    # Edits made while the job ran: the first line of app.py, and the README the job also rewrote.
    store.replace_text(app.id, "a = 100\nb = 2\nc = 3\nd = 4\n")
    readme = FileNode.objects.get(workspace=workspace, path="README.md")
    store.replace_text(readme.id, "members wrote this\n")

    client = client_for(user)
    one = post(client, f"/api/jobs/{job.id}/apply", {"paths": ["app.py"]}).json()["files"]
    assert [(f["path"], f["status"]) for f in one] == [("app.py", "applied")]
    assert store.load_text(app.id) == "a = 100\nb = 2\nc = 3\nd = 40\n"
    rest = {f["path"]: f for f in post(client, f"/api/jobs/{job.id}/apply").json()["files"]}
    assert set(rest) == {"README.md", "new.py"}
    assert rest["README.md"]["status"] == "conflict"
    assert rest["README.md"]["conflicts"][0]["theirs"] == "job\n"
    assert store.load_text(readme.id) == "members wrote this\n"
    assert store.load_text(FileNode.objects.get(workspace=workspace, path="new.py").id) == "n\n"
    assert JobEvent.objects.filter(job=job, kind="apply").count() == 2
    unknown = post(client, f"/api/jobs/{job.id}/apply", {"paths": ["nope.py"]})
    assert unknown.status_code == 400 and "Not in this job's changeset" in unknown.json()["detail"]


def test_apply_takes_an_automatic_checkpoint_of_the_live_files_first(user, tmp_path):
    from workspace.collab import checkpoints, contents
    from workspace.collab.models import Checkpoint

    workspace = create_workspace(user, "Apply")
    app = create_file_with_text(workspace, "app.py", "a = 1\n")
    job = succeeded_job(workspace, user, tmp_path, {"app.py": "a = 2\n"})
    post(client_for(user), f"/api/jobs/{job.id}/apply")
    assert store.load_text(app.id) == "a = 2\n"
    checkpoint = Checkpoint.objects.get(workspace=workspace)
    assert (checkpoint.kind, checkpoint.reason) == ("auto", f"before applying Deep job #{job.id} for alice")
    assert contents.read(checkpoint.files.get(path="app.py").content_id) == b"a = 1\n"
    checkpoints.restore(checkpoint, user.id)
    assert store.load_text(app.id) == "a = 1\n"


def test_a_job_that_did_not_succeed_cannot_be_applied(workspace_with_file, user):
    workspace, _ = workspace_with_file
    job = Job.objects.create(workspace=workspace, user=user, kind="agent", status="failed")
    response = post(client_for(user), f"/api/jobs/{job.id}/apply")
    assert response.status_code == 400 and "succeeded" in response.json()["detail"]
