"""The review of a job's changes beyond writes: deletions and renames applied through the file services, and
conflicts resolved one hunk at a time (the job's version, the live text, or an edited merge)."""

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
from workspace.jobs.tools import ToolError, WorkspaceTools
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

CONF = "alpha = 1\nbeta = 2\ngamma = 3\ndelta = 4\nepsilon = 5\n"


def post(user, url: str, body: dict | None = None):
    client = Client()
    client.force_login(user)
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def job_from_calls(workspace, user, tmp_path, calls: list[tuple[str, dict]]) -> Job:
    """A succeeded job as the runner leaves it, after the agent made these tool calls in its scratch copy."""
    snapshot = take_snapshot(workspace.id)
    tools = WorkspaceTools(materialise(snapshot, tmp_path / "scratch"))
    for name, arguments in calls:
        tools.call(name, arguments)
    changeset = build_changeset(snapshot, tools.root, tools.written, tools.moved_from, tools.deleted)
    return Job.objects.create(
        workspace=workspace, user=user, kind="agent", status="succeeded", result={"changeset": changeset}
    )


def test_deleted_and_renamed_files_are_reviewed_as_changes_and_applied_through_the_file_tree(user, tmp_path):
    workspace = create_workspace(user, "Moves", readme=False)
    old = create_file_with_text(workspace, "old.py", "x = 1\ny = 2\n")
    util = create_file_with_text(workspace, "src/util.py", "def f():\n    '''doc'''\n    return 1\n")
    create_file_with_text(workspace, "keep.py", "k = 1\n")
    job = job_from_calls(
        workspace,
        user,
        tmp_path,
        [
            ("delete_file", {"path": "old.py"}),
            ("move_file", {"path": "src/util.py", "new_path": "lib/helpers.py"}),
            ("write_file", {"path": "lib/helpers.py", "content": "def f():\n    '''doc'''\n    return 2\n"}),
        ],
    )
    changes = {e["path"]: e for e in job.result["changeset"]}
    assert sorted(changes) == ["lib/helpers.py", "old.py"]
    assert changes["old.py"]["status"] == "deleted" and changes["old.py"]["proposed"] == ""
    assert "--- a/old.py\n+++ /dev/null\n" in changes["old.py"]["diff"]
    renamed = changes["lib/helpers.py"]
    assert renamed["status"] == "renamed" and renamed["from_path"] == "src/util.py"
    assert "--- a/src/util.py\n+++ b/lib/helpers.py\n" in renamed["diff"] and "+    return 2\n" in renamed["diff"]
    # A member edits the renamed file meanwhile, on a line the job did not touch.
    store.replace_text(util.id, "def f():  # live\n    '''doc'''\n    return 1\n")

    files = {f["path"]: f for f in post(user, f"/api/jobs/{job.id}/apply").json()["files"]}
    assert files["old.py"]["status"] == "applied" and files["lib/helpers.py"]["status"] == "applied"
    assert not FileNode.objects.filter(id=old.id).exists()
    moved = FileNode.objects.get(id=util.id)  # the same document, so its history and open editors follow it
    assert moved.path == "lib/helpers.py"
    assert store.load_text(util.id) == "def f():  # live\n    '''doc'''\n    return 2\n"
    assert FileNode.objects.filter(workspace=workspace, path="lib", is_folder=True).exists()


def test_a_file_edited_while_the_job_deleted_it_is_kept_and_reported(user, tmp_path):
    workspace = create_workspace(user, "Keep", readme=False)
    doomed = create_file_with_text(workspace, "doomed.py", "a = 1\n")
    job = job_from_calls(workspace, user, tmp_path, [("delete_file", {"path": "doomed.py"})])
    store.replace_text(doomed.id, "a = 1\nb = 2  # added live\n")
    [outcome] = post(user, f"/api/jobs/{job.id}/apply").json()["files"]
    assert outcome["status"] == "conflict" and "edited while the job ran" in outcome["message"]
    assert store.load_text(doomed.id) == "a = 1\nb = 2  # added live\n"


def test_move_and_delete_refuse_what_they_cannot_do(user, tmp_path):
    workspace = create_workspace(user, "Refuse", readme=False)
    create_file_with_text(workspace, "a.py", "a\n")
    create_file_with_text(workspace, "b.py", "b\n")
    tools = WorkspaceTools(materialise(take_snapshot(workspace.id), tmp_path / "scratch"))
    with pytest.raises(ToolError, match="already exists"):
        tools.call("move_file", {"path": "a.py", "new_path": "b.py"})
    with pytest.raises(ToolError, match="no such file"):
        tools.call("delete_file", {"path": "missing.py"})
    with pytest.raises(ToolError, match="outside the workspace|not allowed|\\.\\."):
        tools.call("move_file", {"path": "a.py", "new_path": "../escape.py"})


def conflicted_job(user, tmp_path):
    """CONF with lines 1 and 4 changed by the job and, differently, by a member: two conflicts after apply."""
    workspace = create_workspace(user, "Hunks", readme=False)
    conf = create_file_with_text(workspace, "conf.py", CONF)
    job_text = CONF.replace("alpha = 1", "alpha = 10").replace("delta = 4", "delta = 40")
    job = job_from_calls(workspace, user, tmp_path, [("write_file", {"path": "conf.py", "content": job_text})])
    store.replace_text(conf.id, CONF.replace("alpha = 1", "alpha = 100").replace("delta = 4", "delta = 400"))
    [outcome] = post(user, f"/api/jobs/{job.id}/apply").json()["files"]
    assert outcome["status"] == "conflict" and len(outcome["conflicts"]) == 2
    return workspace, conf, job


def test_each_conflict_is_resolved_on_its_own_and_the_file_counts_as_applied_after_the_last(user, tmp_path):
    workspace, conf, job = conflicted_job(user, tmp_path)
    url = f"/api/jobs/{job.id}/resolve"
    # A member adds a line between the conflicts meanwhile: the second is found where it is now.
    store.replace_text(conf.id, store.load_text(conf.id).replace("beta = 2\n", "beta = 2\n# mid\n"))

    second = post(user, url, {"path": "conf.py", "index": 1, "choice": "theirs"})
    assert second.status_code == 200, second.content
    assert second.json()["status"] == "conflict"  # one is left
    assert store.load_text(conf.id) == "alpha = 100\nbeta = 2\n# mid\ngamma = 3\ndelta = 40\nepsilon = 5\n"

    edited = post(user, url, {"path": "conf.py", "index": 0, "choice": "edit", "text": "alpha = 110"}).json()
    assert edited["status"] == "applied"
    assert [c["resolution"]["choice"] for c in edited["conflicts"]] == ["edit", "theirs"]
    assert store.load_text(conf.id) == "alpha = 110\nbeta = 2\n# mid\ngamma = 3\ndelta = 40\nepsilon = 5\n"
    again = post(user, url, {"path": "conf.py", "index": 0, "choice": "ours"})
    assert again.status_code == 400 and "already resolved" in again.json()["detail"]
    logged = list(JobEvent.objects.filter(job=job, kind="apply").values_list("message", flat=True))
    assert "alice resolved conflict #2 in conf.py: took the job's version" in logged


def test_keeping_the_live_text_changes_nothing_and_bad_requests_are_refused(user, tmp_path):
    workspace, conf, job = conflicted_job(user, tmp_path)
    url = f"/api/jobs/{job.id}/resolve"
    live = store.load_text(conf.id)
    kept = post(user, url, {"path": "conf.py", "index": 0, "choice": "ours"}).json()
    assert kept["conflicts"][0]["resolution"]["note"] == "kept the live text"
    assert store.load_text(conf.id) == live
    assert post(user, url, {"path": "conf.py", "index": 1, "choice": "both"}).status_code == 400
    assert post(user, url, {"path": "conf.py", "index": 1, "choice": "edit"}).status_code == 400
    assert post(user, url, {"path": "conf.py", "index": 7, "choice": "ours"}).status_code == 400
    viewer = make_user("vic")
    make_member(workspace, viewer, "viewer")
    assert post(viewer, url, {"path": "conf.py", "index": 1, "choice": "theirs"}).status_code == 403
    assert store.load_text(conf.id) == live


def test_a_conflict_whose_live_text_changed_since_it_was_shown_is_shown_again_before_anything_is_written(
    user, tmp_path
):
    workspace, conf, job = conflicted_job(user, tmp_path)
    store.replace_text(conf.id, store.load_text(conf.id).replace("alpha = 100", "alpha = 101"))
    url = f"/api/jobs/{job.id}/resolve"
    stale = post(user, url, {"path": "conf.py", "index": 0, "choice": "theirs"})
    assert stale.status_code == 400 and "changed since it was shown" in stale.json()["detail"]
    assert store.load_text(conf.id).startswith("alpha = 101\n")
    shown = Job.objects.get(id=job.id).result["changeset"][0]["apply"]["conflicts"][0]
    assert shown["ours"] == "alpha = 101\n" and shown["resolution"] is None
    assert post(user, url, {"path": "conf.py", "index": 0, "choice": "theirs"}).status_code == 200
    assert store.load_text(conf.id).startswith("alpha = 10\n")


def test_a_file_a_job_deletes_stays_restorable_with_who_deleted_it(user, tmp_path):
    from workspace.collab import tombstones
    from workspace.collab.models import DeletedFile

    workspace = create_workspace(user, "Restorable", readme=False)
    create_file_with_text(workspace, "doomed.py", "keep me somewhere\n")
    job = job_from_calls(workspace, user, tmp_path, [("delete_file", {"path": "doomed.py"})])
    [outcome] = post(user, f"/api/jobs/{job.id}/apply").json()["files"]
    assert outcome["status"] == "applied"
    [deleted] = tombstones.listing(workspace.id)
    assert (deleted["path"], deleted["deleted_by"]) == ("doomed.py", "alice")
    node = tombstones.restore(DeletedFile.objects.get(id=deleted["id"]), user.id)
    assert store.load_text(node.id) == "keep me somewhere\n"
