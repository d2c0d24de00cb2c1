"""Deep jobs end to end: a real `celery worker` on Redis, the fake model server, and a WebSocket client."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from tests.support.fake_openai import FakeModelServer, FakeResponse
from tests.support.helpers import make_member, make_user
from tests.support.wsjson import WorkspaceClient
from tests.support.yclient import YClient
from workspace.collab.files import create_file_with_text
from workspace.jobs import sandbox
from workspace.jobs.models import Job, JobEvent
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

APP = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
CONF = "DEBUG = False\nLEVEL = 'info'\nNAME = 'demo'\n"
FAKE_MODEL = "fake-deep"


@pytest.fixture(scope="module")
def fake_model():
    with FakeModelServer(tokens_per_second=2000, model=FAKE_MODEL) as server:
        yield server


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, fake_model):
    from tests.support.live import celery_worker

    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    (django_settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    env = {
        "DEEP_BASE_URL": fake_model.base_url,
        "DEEP_MODEL": FAKE_MODEL,
        "DEEP_API_KEY": "sk-fake",
        "JOB_HEARTBEAT_SECONDS": "0.5",
        "SANDBOX_TIME_LIMIT": "30",
    }
    with django_db_blocker.unblock(), celery_worker(concurrency=2, **env) as proc:
        yield proc


@pytest.fixture(autouse=True)
def fresh_script(fake_model, settings):
    fake_model.reset()
    settings.DEEP_MODEL = FAKE_MODEL


async def joined(workspace_id: int, user) -> WorkspaceClient:
    client = WorkspaceClient(workspace_id, user)
    await client.connect()
    await client.wait_for(lambda m: m["type"] == "hello")
    return client


def finished(job_id: int):
    return lambda m: m["type"] == "job.finished" and m["job"]["id"] == job_id


@database_sync_to_async
def job_events(job_id: int) -> list[tuple[str, str]]:
    return list(JobEvent.objects.filter(job_id=job_id).order_by("seq").values_list("kind", "message"))


@database_sync_to_async
def load_job(job_id: int) -> Job:
    return Job.objects.get(id=job_id)


@database_sync_to_async
def project(user):
    workspace = create_workspace(user, "Jobs")
    app = create_file_with_text(workspace, "src/app.py", APP)
    conf = create_file_with_text(workspace, "src/conf.py", CONF)
    return workspace, app, conf


async def test_agent_job_streams_progress_and_its_changeset_merges_with_edits_made_during_the_job(
    worker, fake_model, user
):
    workspace, app, conf = await project(user)
    new_app = APP.replace("return a - b", "return a - b  # subtract")
    fake_model.script(
        FakeResponse(
            content="Plan: read app.py, document sub, add a test.",
            tool_calls=[{"name": "read_file", "arguments": {"path": "src/app.py"}}],
            tokens_per_second=15,
        ),
        FakeResponse(
            tool_calls=[
                {"name": "write_file", "arguments": {"path": "src/app.py", "content": new_app}},
                {"name": "write_file", "arguments": {"path": "src/conf.py", "content": CONF.replace("info", "debug")}},
                {
                    "name": "write_file",
                    "arguments": {
                        "path": "tests/test_app.py",
                        "content": "from src.app import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
                    },
                },
            ]
        ),
        FakeResponse(tool_calls=[{"name": "run_command", "arguments": {"command": "python -m pytest -q tests"}}]),
        FakeResponse(content="Documented sub and added a test for add."),
    )
    client = await joined(workspace.id, user)
    editor = YClient(app.id, user=user)
    await editor.connect()
    await editor.sync()
    conf_editor = YClient(conf.id, user=user)
    await conf_editor.connect()
    await conf_editor.sync()

    reply = await client.request({"type": "jobs.create", "kind": "agent", "prompt": "document sub and test add"})
    job_id = reply["job"]["id"]
    assert reply["job"]["status"] == "queued"
    await client.wait_for(lambda m: m["type"] == "job.event" and m["message"].startswith("snapshot of 3 files"), 20)
    # Members keep editing while the job runs: one line far from the job's change, one it also changes.
    await editor.insert(0, "# header added live\n")
    await conf_editor.insert(len("DEBUG = False\nLEVEL = 'info"), "rmation")
    done = await client.wait_for(finished(job_id), 30)

    assert done["job"]["status"] == "succeeded", done
    assert done["job"]["files_changed"] == 3
    kinds = [m.get("kind") for m in client.seen if m["type"] == "job.event"]
    assert {"plan", "tool_call", "tool_output", "result"} <= set(kinds)
    progress = [m for m in client.seen if m["type"] == "job.progress" and m["job_id"] == job_id]
    assert any(m["status"] == "running" and m["step"].startswith("Step") for m in progress)
    assert any(m["tokens_out"] > 0 for m in progress)
    await client.wait_for(lambda m: m["type"] == "history.updated" and m["status"] == "succeeded")
    statuses = [m["status"] for m in client.seen if m["type"] == "history.updated" and m["id"] == job_id]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded"
    outputs = [m["message"] for m in client.seen if m["type"] == "job.event" and m.get("kind") == "tool_output"]
    assert any("1 passed" in text for text in outputs)
    assert fake_model.requests[0]["model"] == FAKE_MODEL
    assert {t["function"]["name"] for t in fake_model.requests[0]["tools"]} >= {"read_file", "write_file"}

    detail = (await client.request({"type": "jobs.get", "job_id": job_id}))["job"]
    changes = {entry["path"]: entry for entry in detail["changeset"]}
    assert sorted(changes) == ["src/app.py", "src/conf.py", "tests/test_app.py"]
    assert changes["src/app.py"]["base"] == APP and changes["src/app.py"]["status"] == "modified"
    assert "+    return a - b  # subtract\n" in changes["src/app.py"]["diff"]
    assert changes["tests/test_app.py"]["status"] == "added" and changes["tests/test_app.py"]["file_id"] is None

    applied = await client.request({"type": "jobs.apply", "job_id": job_id}, timeout=10)
    outcome = {f["path"]: f for f in applied["files"]}
    assert outcome["src/app.py"]["status"] == "applied"
    assert outcome["tests/test_app.py"]["status"] == "applied"
    assert outcome["src/conf.py"]["status"] == "conflict"
    assert outcome["src/conf.py"]["conflicts"] == [
        {"line": 2, "base": "LEVEL = 'info'\n", "ours": "LEVEL = 'information'\n", "theirs": "LEVEL = 'debug'\n"}
    ]
    expected_app = "# header added live\n" + new_app
    await editor.pump_until(lambda: str(editor.text) == expected_app, 5)
    await conf_editor.drain()
    assert str(conf_editor.text) == CONF.replace("info", "information")
    await client.wait_for(lambda m: m["type"] == "job.applied" and m["job_id"] == job_id)
    new_file = await FileNode.objects.aget(workspace=workspace, path="tests/test_app.py")
    recorded = (await client.request({"type": "jobs.get", "job_id": job_id}))["job"]["changeset"]
    assert {e["path"]: e["apply"]["status"] for e in recorded} == {p: o["status"] for p, o in outcome.items()}
    again = await client.request({"type": "jobs.apply", "job_id": job_id})
    assert again["files"] == []  # applying twice changes nothing
    assert new_file.id == outcome["tests/test_app.py"]["file_id"]
    await editor.close()
    await conf_editor.close()
    await client.close()


async def test_failing_sandboxed_command_fails_the_job_and_keeps_its_output(worker, user):
    workspace, _, _ = await project(user)
    await database_sync_to_async(create_file_with_text)(
        workspace, "tests/test_fail.py", "def test_broken():\n    assert 1 + 1 == 3\n"
    )
    client = await joined(workspace.id, user)
    job_id = (await client.request({"type": "jobs.create", "kind": "tests"}))["job"]["id"]
    done = await client.wait_for(finished(job_id), 30)
    assert done["job"]["status"] == "failed"
    assert "exit code 1" in done["job"]["error"]
    detail = (await client.request({"type": "jobs.get", "job_id": job_id}))["job"]
    assert detail["exit_code"] == 1 and "1 failed" in detail["output"]
    assert detail["changeset"] == []
    await client.close()


async def test_cancel_stops_a_running_sandboxed_command(worker, user, settings):
    settings.JOB_TESTS_COMMAND = "sleep 60"
    workspace, _, _ = await project(user)
    client = await joined(workspace.id, user)
    job_id = (await client.request({"type": "jobs.create", "kind": "tests"}))["job"]["id"]
    await client.wait_for(lambda m: m["type"] == "job.event" and m.get("kind") == "tool_call", 20)
    await client.request({"type": "jobs.cancel", "job_id": job_id})
    done = await client.wait_for(finished(job_id), 10)
    assert done["job"]["status"] == "cancelled"
    job = await load_job(job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    await client.close()


async def test_cancel_stops_a_slow_model_stream(worker, fake_model, user):
    fake_model.script(FakeResponse(content="thinking " * 400, tokens_per_second=20))
    workspace, _, _ = await project(user)
    client = await joined(workspace.id, user)
    job_id = (await client.request({"type": "jobs.create", "kind": "agent", "prompt": "think hard"}))["job"]["id"]
    await client.wait_for(lambda m: m["type"] == "job.progress" and m.get("tokens_out", 0) > 0, 20)
    await client.request({"type": "jobs.cancel", "job_id": job_id})
    done = await client.wait_for(finished(job_id), 10)
    assert done["job"]["status"] == "cancelled"
    assert done["job"]["tokens_out"] < 400
    await client.close()


async def test_viewer_cannot_start_or_cancel_a_job(worker, user):
    workspace, _, _ = await project(user)
    viewer = await database_sync_to_async(make_user)("victor")
    await database_sync_to_async(make_member)(workspace, viewer, "viewer")
    client = await joined(workspace.id, viewer)
    refused = await client.request({"type": "jobs.create", "kind": "tests"})
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert await Job.objects.filter(workspace=workspace).acount() == 0
    await client.close()


async def test_job_cannot_read_or_write_outside_its_workspace(worker, fake_model, user):
    other = await database_sync_to_async(create_workspace)(user, "Other")
    await database_sync_to_async(create_file_with_text)(other, "secret.py", "TOKEN = 'OTHER-WORKSPACE-SECRET'\n")
    workspace, _, _ = await project(user)
    repo_file = django_settings.BASE_DIR / "workspace" / "settings.py"
    fake_model.script(
        FakeResponse(
            tool_calls=[
                {"name": "read_file", "arguments": {"path": "../secret.py"}},
                {"name": "read_file", "arguments": {"path": str(repo_file)}},
                {"name": "write_file", "arguments": {"path": "../../escaped.py", "content": "x = 1\n"}},
                {"name": "search", "arguments": {"pattern": "OTHER-WORKSPACE-SECRET"}},
                {"name": "run_command", "arguments": {"command": f"ln -s / rootlink; cat {repo_file}"}},
                {"name": "read_file", "arguments": {"path": "rootlink/etc/hostname"}},
            ]
        ),
        FakeResponse(content="I could not get out."),
    )
    client = await joined(workspace.id, user)
    job_id = (await client.request({"type": "jobs.create", "kind": "agent", "prompt": "escape"}))["job"]["id"]
    done = await client.wait_for(finished(job_id), 30)
    assert done["job"]["status"] == "succeeded" and done["job"]["files_changed"] == 0
    tool_results = [m["content"] for m in fake_model.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_results[0].startswith("error:") and "Invalid path" in tool_results[0]
    assert tool_results[1].startswith("error:")
    assert tool_results[2].startswith("error:")
    assert tool_results[3] == "(no matches)"
    if sandbox.bwrap_available():
        assert "No such file or directory" in tool_results[4]
        assert "SECRET_KEY" not in "".join(tool_results)
    # The link to / never leaves the sandbox: only folders and regular files come back.
    assert tool_results[5] == "error: no such file: rootlink/etc/hostname"
    assert not (django_settings.SANDBOX_ROOT.parent / "escaped.py").exists()
    assert not (django_settings.SANDBOX_ROOT / "escaped.py").exists()
    await client.close()


async def test_an_agent_job_on_a_project_environment_deletes_and_moves_files_with_its_setup_cached_for_the_next(
    worker, fake_model, user
):
    workspace, app, conf = await project(user)
    run_id = uuid.uuid4().hex  # a fresh cache key: the worker's SANDBOX_ROOT outlives test runs
    toml = (
        "[setup]\ncommand = 'mkdir -p .deps && echo ready > .deps/flag'\ncache = ['.deps']\n"
        f"[env]\nRUN_ID = '{run_id}'\n"
    )
    await database_sync_to_async(create_file_with_text)(workspace, "sparkroom.toml", toml)
    fake_model.script(
        FakeResponse(
            tool_calls=[
                {"name": "delete_file", "arguments": {"path": "src/conf.py"}},
                {"name": "move_file", "arguments": {"path": "src/app.py", "new_path": "lib/app.py"}},
                {"name": "run_command", "arguments": {"command": "cat .deps/flag; echo $RUN_ID"}},
            ]
        ),
        FakeResponse(content="Moved app.py, dropped conf.py."),
    )
    client = await joined(workspace.id, user)
    job_id = (await client.request({"type": "jobs.create", "kind": "agent", "prompt": "reorganise"}))["job"]["id"]
    done = await client.wait_for(finished(job_id), 30)
    assert done["job"]["status"] == "succeeded", done
    assert {t["function"]["name"] for t in fake_model.requests[0]["tools"]} >= {"delete_file", "move_file"}
    tool_results = [m["content"] for m in fake_model.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_results[:2] == ["deleted src/conf.py", "moved src/app.py to lib/app.py"]
    assert f"ready\n{run_id}" in tool_results[2]
    changes = {e["path"]: e for e in (await client.request({"type": "jobs.get", "job_id": job_id}))["job"]["changeset"]}
    assert changes["src/conf.py"]["status"] == "deleted" and changes["lib/app.py"]["from_path"] == "src/app.py"
    assert ".deps/flag" not in changes  # the environment is not part of the changeset
    assert any(m.startswith("setup: done in") for _, m in await job_events(job_id))

    second = (await client.request({"type": "jobs.create", "kind": "tests", "prompt": ""}))["job"]["id"]
    await client.wait_for(finished(second), 30)
    assert any(m.startswith("setup: reused the cached environment") for _, m in await job_events(second))
    await client.close()
