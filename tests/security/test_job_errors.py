"""Deep jobs never show where the server keeps things (SANDBOX_ROOT, the application, its Python environment),
and a file created before the path rules existed (a name over 255 bytes) costs a job that one file, with a note
naming its workspace path, instead of failing every job of the workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.support.fake_openai import FakeModelServer, FakeResponse
from workspace.collab import store
from workspace.jobs import runner
from workspace.jobs.models import Job, JobEvent
from workspace.projects.models import FileNode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

LONG_NAME = "n" * 300 + ".py"


@pytest.fixture
def fake_model(settings, tmp_path):
    settings.SANDBOX_ROOT = tmp_path / "sandbox-root-of-this-server"
    with FakeModelServer(tokens_per_second=5000, model="deep-test", api_key="sk-right") as server:
        settings.DEEP_BASE_URL, settings.DEEP_MODEL, settings.DEEP_API_KEY = server.base_url, "deep-test", "sk-right"
        settings.DEEP_MAX_RETRIES = 0
        yield server


def server_paths() -> list[str]:
    places = {django_settings.SANDBOX_ROOT, django_settings.BASE_DIR, sys.prefix, sys.base_prefix}
    return sorted({str(p) for p in places} | {os.path.realpath(p) for p in places} - {"/usr", "/usr/local"})


def everything_members_see(job: Job) -> str:
    job.refresh_from_db()
    events = "\n".join(JobEvent.objects.filter(job=job).values_list("message", flat=True))
    return f"{job.error}\n{events}\n{job.result}"


def assert_no_server_path(text: str) -> None:
    for place in server_paths():
        assert place not in text, f"{place} shown to members in:\n{text[:2000]}"


def legacy_long_named_file(workspace) -> FileNode:
    """As created before names were limited: straight into the table, past today's validation."""
    node = FileNode.objects.create(workspace=workspace, path=f"src/{LONG_NAME}")
    store.replace_text(node.id, "x = 1\n")
    return node


def test_a_legacy_over_long_name_is_skipped_with_a_note_and_the_job_still_runs(workspace_with_file, user, fake_model):
    workspace, _ = workspace_with_file
    legacy_long_named_file(workspace)
    fake_model.script(
        FakeResponse(tool_calls=[{"name": "read_file", "arguments": {"path": "src/main.py"}}]),
        FakeResponse(content="Nothing to change."),
    )
    job = Job.objects.create(workspace=workspace, user=user, kind="agent", prompt="look")
    assert runner.run_job(job.id) == "succeeded", everything_members_see(job)
    note = JobEvent.objects.get(job=job, data__skipped=1).message
    assert f"src/{LONG_NAME}" in note and "255 bytes" in note and "Rename it" in note
    listing = fake_model.requests[0]["messages"][1]["content"]
    assert "src/main.py" in listing and LONG_NAME not in listing
    assert_no_server_path(everything_members_see(job))


def test_a_command_job_runs_too_and_its_output_names_no_server_path(workspace_with_file, user, fake_model):
    workspace, _ = workspace_with_file
    legacy_long_named_file(workspace)
    # Whatever the sandbox backend: where the copy is, and where Python is installed.
    command = 'pwd; ls src; python -c "import sys; print(sys.prefix, sys.executable)"; exit 3'
    job = Job.objects.create(workspace=workspace, user=user, kind="tests", command=command)
    assert runner.run_job(job.id) == "failed"
    job.refresh_from_db()
    assert job.error == f"`{command}` failed: exit code 3"
    assert "/workspace\nmain.py\n" in job.result["output"]
    assert_no_server_path(everything_members_see(job))


def test_an_os_error_in_a_tool_goes_back_to_the_model_by_workspace_path(workspace_with_file, user, fake_model):
    workspace, _ = workspace_with_file
    below_a_file = {"name": "write_file", "arguments": {"path": "src/main.py/inner.py", "content": "x\n"}}
    fake_model.script(FakeResponse(tool_calls=[below_a_file]), FakeResponse(content="Could not."))
    job = Job.objects.create(workspace=workspace, user=user, kind="agent", prompt="write")
    assert runner.run_job(job.id) == "succeeded", everything_members_see(job)
    tool_reply = [m for m in fake_model.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
    assert tool_reply.startswith("error: write_file failed: ") and "src/main.py" in tool_reply
    assert_no_server_path(tool_reply)
    assert_no_server_path(everything_members_see(job))


def test_a_scratch_copy_that_cannot_be_made_fails_without_a_server_path(
    workspace_with_file, user, fake_model, settings
):
    workspace, _ = workspace_with_file
    blocker = Path(settings.SANDBOX_ROOT)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the scratch directories should go")
    job = Job.objects.create(workspace=workspace, user=user, kind="agent", prompt="look")
    assert runner.run_job(job.id) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("the job could not run: ") and "model call" not in job.error
    assert_no_server_path(everything_members_see(job))


def test_server_paths_in_any_text_are_hidden_and_the_copy_is_shown_as_workspace(settings, tmp_path):
    from workspace.jobs.snapshot import hide_server_paths

    settings.SANDBOX_ROOT = tmp_path / "sbx"
    root = settings.SANDBOX_ROOT / "job-7-1"
    text = (
        f"E   {root}/tests/test_a.py:3: AssertionError\n"
        f"{sys.prefix}/lib/python3/site-packages/_pytest/main.py\n"
        f"{settings.BASE_DIR}/workspace/jobs/runner.py\n"
        f"{settings.BASE_DIR}extra stays a different name\n"
    )
    shown = hide_server_paths(text, root)
    assert "E   /workspace/tests/test_a.py:3: AssertionError\n" in shown
    assert "<server>/lib/python3/site-packages/_pytest/main.py\n" in shown
    assert "<server>/workspace/jobs/runner.py\n" in shown
    assert f"{settings.BASE_DIR}extra" in shown
    assert str(tmp_path) not in shown.replace(f"{settings.BASE_DIR}extra", "")


def test_an_os_error_is_described_by_workspace_path_only(tmp_path):
    from workspace.jobs.snapshot import describe_os_error

    root = tmp_path / "job-1-1"
    too_long = OSError(36, "File name too long", str(root / "src" / LONG_NAME))
    assert describe_os_error(too_long, root) == f"File name too long: src/{LONG_NAME}"
    elsewhere = FileNotFoundError(2, "No such file or directory", "/etc/sparkroom/secret")
    assert describe_os_error(elsewhere, root) == "No such file or directory"
    program = FileNotFoundError(2, "No such file or directory", "bwrap")
    assert describe_os_error(program, root) == "No such file or directory: bwrap"
