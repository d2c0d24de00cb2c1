"""Deep-mode jobs over HTTP: create, list, detail (events + changeset), cancel, apply."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from workspace.jobs import apply, events, services
from workspace.jobs.models import Job
from workspace.projects.services import PermissionDenied, role_of

router = Router(tags=["jobs"])
PREFIX = ""


class JobIn(Schema):
    kind: str = "agent"
    prompt: str = ""


class ApplyIn(Schema):
    paths: list[str] | None = None


def _guard(request, func, *args):
    try:
        return func(request.user, *args)
    except services.JobError as exc:
        raise HttpError(400, str(exc)) from exc
    except Job.DoesNotExist as exc:
        raise HttpError(404, "job not found") from exc
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc


def _visible_job(request, job_id: int) -> Job:
    job = Job.objects.filter(id=job_id).only("workspace_id").first()
    # Non-members get 404, so ids of other workspaces' jobs reveal nothing.
    if job is None or role_of(request.user, job.workspace_id) is None:
        raise HttpError(404, "job not found")
    return job


@router.post("/workspaces/{workspace_id}/jobs")
def create_job(request, workspace_id: int, payload: JobIn):
    if role_of(request.user, workspace_id) is None:
        raise HttpError(404, "workspace not found")
    job = _guard(request, services.create_job, workspace_id, payload.kind, payload.prompt)
    return events.summary(job)


@router.get("/workspaces/{workspace_id}/jobs")
def list_jobs(request, workspace_id: int):
    if role_of(request.user, workspace_id) is None:
        raise HttpError(404, "workspace not found")
    return _guard(request, services.list_jobs, workspace_id)


@router.get("/jobs/{job_id}")
def job_detail(request, job_id: int):
    _visible_job(request, job_id)
    return services.job_detail(_guard(request, services.get_job, job_id))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request, job_id: int):
    _visible_job(request, job_id)
    return events.summary(_guard(request, services.cancel_job, job_id))


@router.post("/jobs/{job_id}/apply")
def apply_job(request, job_id: int, payload: ApplyIn):
    _visible_job(request, job_id)
    return {"files": _guard(request, apply.apply_changeset, job_id, payload.paths)}
