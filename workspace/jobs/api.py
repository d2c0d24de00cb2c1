"""Deep-mode jobs over HTTP: create, list, detail (events + changeset), cancel, apply, apply and commit."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from tasks.deep import enqueue
from workspace.jobs import apply, events, services
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
