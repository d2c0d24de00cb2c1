"""The job runner called directly (as the Celery task does): model failures, step limit, claim-once."""

from __future__ import annotations

import pytest

from tests.support.fake_openai import FakeModelServer, FakeResponse
from workspace.jobs import runner
from workspace.jobs.models import Job, JobEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


@pytest.fixture
def fake_model(settings, tmp_path):
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    with FakeModelServer(tokens_per_second=5000, model="deep-test", api_key="sk-right") as server:
        settings.DEEP_BASE_URL, settings.DEEP_MODEL, settings.DEEP_API_KEY = server.base_url, "deep-test", "sk-right"
        settings.DEEP_MAX_RETRIES = 0
        yield server


def agent_job(workspace, user, prompt: str = "do it") -> Job:
    return Job.objects.create(workspace=workspace, user=user, kind="agent", prompt=prompt)


def test_a_job_runs_once_even_if_its_task_is_delivered_twice(workspace_with_file, user, fake_model):
    workspace, _ = workspace_with_file
    fake_model.script(FakeResponse(content="Nothing to change."))
    job = agent_job(workspace, user)
    assert runner.run_job(job.id) == "succeeded"
    assert runner.run_job(job.id) == "skipped"
    job.refresh_from_db()
    assert job.attempts == 1 and job.model == "deep-test" and job.progress == 1.0
    assert len(fake_model.requests) == 1
    assert job.result["summary"] == "Nothing to change."
    assert job.tokens_in > 0 and job.tokens_out > 0


def test_a_rejected_api_key_fails_the_job_with_a_clear_reason(workspace_with_file, user, fake_model, settings):
    workspace, _ = workspace_with_file
    settings.DEEP_API_KEY = "sk-wrong"
    job = agent_job(workspace, user)
    assert runner.run_job(job.id) == "failed"
    job.refresh_from_db()
    assert "rejected the API key" in job.error and "DEEP_API_KEY" in job.error
    assert JobEvent.objects.filter(job=job, kind="status", message__startswith="failed").exists()


def test_an_unconfigured_model_fails_with_how_to_configure_it(workspace_with_file, user, settings):
    workspace, _ = workspace_with_file
    settings.DEEP_BASE_URL, settings.OLLAMA_FALLBACK_URL = "", ""
    job = agent_job(workspace, user)
    assert runner.run_job(job.id) == "failed"
    job.refresh_from_db()
    assert "No model is configured for deep mode" in job.error


def test_the_step_limit_stops_the_loop_and_keeps_what_was_written(workspace_with_file, user, fake_model, settings):
    workspace, _ = workspace_with_file
    settings.DEEP_MAX_STEPS = 2
    write = {"name": "write_file", "arguments": {"path": "src/main.py", "content": "print('bye')\n"}}
    fake_model.script(*[FakeResponse(tool_calls=[write]) for _ in range(3)])
    job = agent_job(workspace, user)
    assert runner.run_job(job.id) == "succeeded"
    job.refresh_from_db()
    assert len(fake_model.requests) == 2
    assert [e["path"] for e in job.result["changeset"]] == ["src/main.py"]
    assert job.result["changeset"][0]["proposed"] == "print('bye')\n"
    assert JobEvent.objects.filter(job=job, kind="error", message__startswith="stopped after 2 steps").exists()


def test_a_bad_tool_call_is_reported_to_the_model_and_the_log(workspace_with_file, user, fake_model):
    workspace, _ = workspace_with_file
    fake_model.script(
        FakeResponse(tool_calls=[{"name": "format_disk", "arguments": {}}]),
        FakeResponse(content="Sorry."),
    )
    job = agent_job(workspace, user)
    assert runner.run_job(job.id) == "succeeded"
    tool_reply = [m for m in fake_model.requests[1]["messages"] if m["role"] == "tool"][0]
    assert tool_reply["content"] == "error: unknown tool 'format_disk'"
    assert JobEvent.objects.filter(job=job, kind="error", message="error: unknown tool 'format_disk'").exists()
