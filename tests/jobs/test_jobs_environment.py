"""Project environments: sparkroom.toml validated, secrets kept server-side and out of every log, the setup phase
(network only when the owner allows it) cached until its inputs change, and the commands run in that environment."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from django.test import Client

from tests.support.helpers import make_member, make_user
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.jobs import environment, runner, services
from workspace.jobs.envconfig import EnvironmentFileError, parse
from workspace.jobs.models import Job, JobEvent
from workspace.jobs.tools import WorkspaceTools
from workspace.projects.models import FileNode
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

TOKEN = "tok-9f8e7d6c5b4a"  # the secret's value: must never appear in a job's log, result or error
PROJECT_TOML = """
[setup]
command = "mkdir -p .deps && sleep 1 && echo \\"installed with $API_TOKEN\\" > .deps/marker && echo token=$API_TOKEN"
inputs = ["requirements*.txt"]
cache = [".deps"]

[commands]
test = "cat .deps/marker; echo mode=$APP_MODE; echo token=${API_TOKEN:-unset}"

[run]
python = "python {file}"

[env]
APP_MODE = "ci"
"""


@pytest.fixture(autouse=True)
def sandbox_root(settings, tmp_path):
    settings.SANDBOX_ROOT = tmp_path / "sandbox"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run_tests_job(user, workspace) -> Job:
    job = services.create_job(user, workspace.id, "tests", enqueue=lambda _id: None)
    runner.run_job(job.id)
    return Job.objects.get(id=job.id)


def log_of(job: Job) -> str:
    return "\n".join(JobEvent.objects.filter(job=job).values_list("message", flat=True))


def test_a_valid_file_is_read_and_an_invalid_one_lists_every_problem():
    project = parse(PROJECT_TOML)
    assert project.setup_cache == (".deps",) and project.env == {"APP_MODE": "ci"}
    assert project.run_command_for("python", "src/it's.py") == "python 'src/it'\"'\"'s.py'"
    with pytest.raises(EnvironmentFileError) as bad:
        parse(
            '[setup]\ncommand = "make"\nfoo = 1\n[run]\npython = "python"\n[env]\nHOME = "/x"\n"1BAD" = "y"\n'
            "[commands]\ntest = 3\n[extra]\n"
        )
    problems = bad.value.problems
    assert "unknown section [extra] (expected commands, env, run, setup)" in problems
    assert "unknown key 'foo' in [setup] (expected one of cache, command, inputs)" in problems
    assert any(p.startswith("[setup] cache must name what the setup produces") for p in problems)
    assert "[run] python must contain {file}, where the file's path goes" in problems
    assert "[env] HOME is set by the sandbox and cannot be changed" in problems
    assert "[env] '1BAD' is not a variable name (letters, digits, _)" in problems
    assert "[commands] test must be a non-empty string" in problems
    with pytest.raises(EnvironmentFileError, match="not valid TOML"):
        parse("[setup\n")


def test_owner_keeps_secrets_whose_values_are_never_shown_back(user):
    workspace = create_workspace(user, "Secrets")
    editor = make_user("eddie")
    make_member(workspace, editor, "editor")
    owner = client_for(user)
    url = f"/api/workspaces/{workspace.id}/secrets/API_TOKEN"
    stored = owner.put(url, json.dumps({"value": TOKEN}), content_type="application/json")
    assert stored.status_code == 200 and TOKEN not in stored.content.decode()
    assert [s["name"] for s in stored.json()["secrets"]] == ["API_TOKEN"]
    nul = owner.put(url, json.dumps({"value": "abc\u0000defghij"}), content_type="application/json")
    assert nul.status_code == 400
    short = owner.put(url, json.dumps({"value": "abc"}), content_type="application/json")
    assert short.status_code == 400 and "8 to 4096 characters" in short.json()["detail"]
    state = owner.get(f"/api/workspaces/{workspace.id}/environment").json()
    assert state["secrets"][0]["name"] == "API_TOKEN" and TOKEN not in json.dumps(state)
    assert client_for(editor).get(f"/api/workspaces/{workspace.id}/environment").json()["secrets"] is None
    assert client_for(editor).put(url, json.dumps({"value": TOKEN}), content_type="application/json").status_code == 403


def test_the_environment_file_s_problems_are_shown_before_any_job_runs(user):
    workspace = create_workspace(user, "Invalid toml")
    node = create_file_with_text(workspace, "sparkroom.toml", "[setup]\ncommand = 'make'\n")
    state = client_for(user).get(f"/api/workspaces/{workspace.id}/environment").json()["file"]
    assert state["present"] and state["problems"][0].startswith("[setup] cache must name")
    job = run_tests_job(user, workspace)
    assert job.status == "failed" and job.error.startswith("sparkroom.toml is not valid: [setup] cache must name")
    store.replace_text(node.id, "[commands]\ntest = 'echo fine'\n[run]\npython = 'python {file}'\n")
    valid = client_for(user).get(f"/api/workspaces/{workspace.id}/environment").json()["file"]
    assert valid["problems"] == [] and valid["run"] == {"python": "python {file}"}
    assert valid["commands"] == {"test": "echo fine"} and valid["setup"] == ""
    assert run_tests_job(user, workspace).status == "succeeded"


def test_setup_runs_once_and_is_reused_until_an_input_changes_and_secrets_never_reach_the_log(user):
    workspace = create_workspace(user, "Environment")
    create_file_with_text(workspace, "sparkroom.toml", PROJECT_TOML)
    requirements = create_file_with_text(workspace, "requirements.txt", "demo==1.0\n")
    environment.set_secret(workspace.id, "API_TOKEN", TOKEN, user)

    first = run_tests_job(user, workspace)
    assert first.status == "succeeded", first.error
    assert first.command.startswith("cat .deps/marker")
    log = log_of(first)
    assert "setup: done in" in log and "token=[secret API_TOKEN]" in log
    # The commands get [env] but not the secrets (the setup phase only), and find what the setup installed.
    assert first.result["output"] == "installed with [secret API_TOKEN]\nmode=ci\ntoken=unset\n"
    assert TOKEN not in log and TOKEN not in json.dumps(first.result)

    second = run_tests_job(user, workspace)
    assert second.status == "succeeded" and "setup: reused the cached environment" in log_of(second)
    assert "setup: done" not in log_of(second) and second.result["output"] == first.result["output"]

    store.replace_text(requirements.id, "demo==2.0\n")
    third = run_tests_job(user, workspace)
    assert "setup: done in" in log_of(third)
    assert len(list(environment.cache_root(workspace.id).iterdir())) == 1  # the old key is gone


def test_a_failing_setup_fails_the_job_with_its_output_and_caches_nothing(user):
    workspace = create_workspace(user, "Broken setup")
    create_file_with_text(
        workspace, "sparkroom.toml", '[setup]\ncommand = "echo no index; exit 3"\ncache = [".deps"]\n'
    )
    job = run_tests_job(user, workspace)
    assert job.status == "failed" and job.error == "setup `echo no index; exit 3` failed: exit code 3"
    assert "no index" in log_of(job)
    assert not environment.cache_root(workspace.id).exists() or not any(environment.cache_root(workspace.id).iterdir())


@pytest.fixture
def local_port():
    """A TCP server on the host's loopback: reachable only by a sandbox that shares the host's network."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.sendall(b"hello from the network\n")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def test_only_the_setup_phase_reaches_the_network_and_only_when_the_owner_allows_it(user, local_port):
    connect = f"s = socket.create_connection(('127.0.0.1', {local_port}), timeout=3)"
    probe = f'python -c "import socket; {connect}; print(s.recv(100).decode().strip())"'
    workspace = create_workspace(user, "Network")
    toml = f"[setup]\ncommand = '''mkdir -p .deps && {probe}'''\ncache = ['.deps']\n[commands]\ntest = '''{probe}'''\n"
    create_file_with_text(workspace, "sparkroom.toml", toml)
    refused = run_tests_job(user, workspace)
    assert refused.status == "failed" and refused.error.startswith("setup `mkdir -p .deps")
    assert "hello from the network" not in log_of(refused)

    client_for(user).put(
        f"/api/workspaces/{workspace.id}/environment", json.dumps({"setup_network": True}), "application/json"
    )
    allowed = run_tests_job(user, workspace)
    log = log_of(allowed)
    assert "hello from the network" in log  # the setup reached it
    assert allowed.status == "failed" and allowed.error.startswith("`python -c")  # the command phase did not
    assert log.count("hello from the network") == 1


def test_the_agent_s_run_command_gets_the_project_variables_and_what_the_model_reads_is_redacted(tmp_path):
    tools = WorkspaceTools(
        tmp_path, env={"APP_MODE": "ci", "LEAK": TOKEN}, redact=environment.Redactor({"API_TOKEN": TOKEN})
    )
    output = tools.call("run_command", {"command": "echo mode=$APP_MODE leak=$LEAK > out.txt; cat out.txt"})
    assert "mode=ci leak=[secret API_TOKEN]" in output and TOKEN not in output
    # A file holding the value (written by the setup, say) reads redacted too, and so does a search for it.
    assert tools.call("read_file", {"path": "out.txt"}) == "mode=ci leak=[secret API_TOKEN]\n"
    assert TOKEN not in tools.call("search", {"pattern": "leak"})


def test_the_setup_cache_is_left_out_of_the_agent_s_listing(tmp_path):
    (tmp_path / ".deps" / "pkg").mkdir(parents=True)
    (tmp_path / ".deps" / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "app.py").write_text("import pkg\n")
    tools = WorkspaceTools(tmp_path, hidden=(".deps",))
    assert tools.call("list_files", {}) == "app.py"
    assert FileNode.objects.count() == 0


def test_a_setup_cache_holding_workspace_files_is_refused_rather_than_overwriting_them(user):
    workspace = create_workspace(user, "Overlap")
    create_file_with_text(workspace, "src/main.py", "print('live')\n")
    create_file_with_text(workspace, "sparkroom.toml", "[setup]\ncommand = 'true'\ncache = ['src']\n")
    job = run_tests_job(user, workspace)
    assert job.status == "failed"
    assert job.error == "[setup] cache paths must hold only what the setup produces, not workspace files: src"
