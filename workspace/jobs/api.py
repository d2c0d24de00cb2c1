"""Deep-mode jobs over HTTP: create, list, detail (events + changeset), cancel, apply."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from tasks.deep import enqueue
from workspace.jobs import apply, events, resolve, services
from workspace.jobs.models import Job
from workspace.projects import guard
from workspace.projects.models import Role

router = Router(tags=["jobs"])
PREFIX = ""
JOB_NOT_FOUND = "job not found"


class JobIn(Schema):
    kind: str = "agent"
    prompt: str = ""


class ApplyIn(Schema):
    paths: list[str] | None = None


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
