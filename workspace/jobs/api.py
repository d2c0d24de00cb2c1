"""Deep-mode jobs over HTTP: create, list, detail (events + changeset), cancel, apply, apply and commit."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from tasks.deep import enqueue
from workspace.jobs import apply, environment, events, resolve, services
from workspace.jobs.models import Job
from workspace.projects import guard
from workspace.projects.models import Role
from workspace.repos import working
from workspace.repos.git import GitError

router = Router(tags=["jobs"])
PREFIX = ""
JOB_NOT_FOUND = "job not found"


class JobIn(Schema):
    kind: str = "agent"
    prompt: str = ""


class ApplyIn(Schema):
    paths: list[str] | None = None


class CommitJobIn(Schema):
    message: str = ""


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except services.JobError as exc:
        raise HttpError(400, str(exc)) from exc
    except Job.DoesNotExist as exc:  # deleted meanwhile
        raise HttpError(404, JOB_NOT_FOUND) from exc


def _job(request, job_id: int, minimum: str) -> Job:
    """The job, when its workspace is the caller's; another workspace's job answers exactly as a missing one."""
    job = Job.objects.select_related("user").filter(id=job_id).first()
    return guard.api_record(request, job, minimum, missing=JOB_NOT_FOUND)


@router.post("/workspaces/{workspace_id}/jobs")
def create_job(request, workspace_id: int, payload: JobIn):
    guard.api_role(request, workspace_id, Role.EDITOR)
    job = _call(services.create_job, request.user, workspace_id, payload.kind, payload.prompt, enqueue=enqueue)
    return events.summary(job)


@router.get("/workspaces/{workspace_id}/jobs")
def list_jobs(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return services.list_jobs(workspace_id)


@router.get("/jobs/{job_id}")
def job_detail(request, job_id: int):
    return services.job_detail(_job(request, job_id, Role.VIEWER))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request, job_id: int):
    job = _job(request, job_id, Role.EDITOR)
    return events.summary(_call(services.cancel_job, job, request.user.get_username()))


@router.post("/jobs/{job_id}/apply")
def apply_job(request, job_id: int, payload: ApplyIn):
    job = _job(request, job_id, Role.EDITOR)
    return {"files": _call(apply.apply_changeset, job, request.user.get_username(), payload.paths)}


class ResolveIn(Schema):
    path: str
    index: int
    choice: str
    text: str | None = None


@router.post("/jobs/{job_id}/resolve")
def resolve_conflict(request, job_id: int, payload: ResolveIn):
    """Resolve one conflict of an applied file: take the job's version ("theirs"), keep the live text ("ours"),
    or write an edited merge ("edit", with `text`)."""
    job = _job(request, job_id, Role.EDITOR)
    username = request.user.get_username()
    return _call(resolve.resolve_conflict, job, username, payload.path, payload.index, payload.choice, payload.text)


class EnvironmentIn(Schema):
    setup_network: bool


class SecretIn(Schema):
    value: str


def _environment_state(workspace_id: int, role: str) -> dict:
    return {
        "setup_network": environment.settings_for(workspace_id).setup_network,
        "file": environment.file_state(workspace_id),
        # Names only, and only to the owner; values are never sent back.
        "secrets": environment.list_secrets(workspace_id) if role == Role.OWNER else None,
    }


@router.get("/workspaces/{workspace_id}/environment")
def get_environment(request, workspace_id: int):
    """The project environment: whether setup may use the network, sparkroom.toml's problems, the secrets' names."""
    role = guard.api_role(request, workspace_id, Role.VIEWER)
    return _environment_state(workspace_id, role)


@router.put("/workspaces/{workspace_id}/environment")
def set_environment(request, workspace_id: int, payload: EnvironmentIn):
    """Owner: allow or forbid network access in the setup phase (commands and the agent never have it)."""
    guard.api_role(request, workspace_id, Role.OWNER)
    environment.set_setup_network(workspace_id, payload.setup_network)
    return _environment_state(workspace_id, Role.OWNER)


@router.put("/workspaces/{workspace_id}/secrets/{secret_name}")
def set_secret(request, workspace_id: int, secret_name: str, payload: SecretIn):
    """Owner: create or replace a secret of the setup phase. The value is never shown back nor logged."""
    guard.api_role(request, workspace_id, Role.OWNER)
    try:
        environment.set_secret(workspace_id, secret_name, payload.value, request.user)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"secrets": environment.list_secrets(workspace_id)}


@router.delete("/workspaces/{workspace_id}/secrets/{secret_name}")
def delete_secret(request, workspace_id: int, secret_name: str):
    """Owner: remove a secret."""
    guard.api_role(request, workspace_id, Role.OWNER)
    if not environment.delete_secret(workspace_id, secret_name):
        raise HttpError(404, "no such secret")
    return {"secrets": environment.list_secrets(workspace_id)}


@router.post("/jobs/{job_id}/commit", summary="Apply a job's changes (those not applied yet) and commit its files")
def commit_job(request, job_id: int, payload: CommitJobIn):
    """The job's files as they now are live, committed as the caller (the job's model, whose apply wrote them, is a
    `Co-authored-by:` trailer); `message` defaults to the job's prompt. 400 without a git repository."""
    job = _job(request, job_id, Role.EDITOR)
    applied = _call(apply.apply_changeset, job, request.user.get_username(), None)
    paths = [entry["path"] for entry in (job.result or {}).get("changeset") or []]
    message = payload.message.strip() or f"Deep job #{job.id}: {job.prompt or job.kind}"
    try:
        committed = working.commit(request.user, job.workspace_id, message, paths)
    except GitError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"applied": applied, "commit": committed}
