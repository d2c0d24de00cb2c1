"""Job operations for the edges (API, workspace channel): create, list, detail, cancel (sync ORM code)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from workspace.jobs import events
from workspace.jobs.models import Job, JobEvent, JobKind, JobStatus
from workspace.projects.models import Role
from workspace.projects.services import require_role

MAX_PROMPT = 20000
LIST_LIMIT = 50


class JobError(ValueError):
    """A job request that cannot be honoured, with a message for the user."""


def create_job(user: AbstractBaseUser, workspace_id: int, kind: str, prompt: str = "") -> Job:
    """Create a queued job and enqueue its task once the transaction commits."""
    from tasks.deep import enqueue

    require_role(user, workspace_id, Role.EDITOR)
    if kind not in JobKind.values:
        raise JobError(f"unknown job kind {kind!r}; one of {', '.join(JobKind.values)}")
    prompt = (prompt or "").strip()
    if kind == JobKind.AGENT and not prompt:
        raise JobError("An agent task needs a prompt.")
    if len(prompt) > MAX_PROMPT:
        raise JobError(f"The prompt is longer than {MAX_PROMPT} characters.")
    command = {JobKind.TESTS: settings.JOB_TESTS_COMMAND, JobKind.LINT: settings.JOB_LINT_COMMAND}.get(kind, "")
    with transaction.atomic():
        job = Job.objects.create(
            workspace_id=workspace_id,
            user=user,
            kind=kind,
            prompt=prompt,
            command=command,
            model=settings.DEEP_MODEL if kind == JobKind.AGENT else "",
            step="queued",
        )
        queued = JobEvent.objects.create(job=job, seq=1, kind="status", message="queued", data={"status": "queued"})
        # Browsers hear "queued" before the worker can say "running"; then the task is sent.
        transaction.on_commit(lambda: _announce_created(job, queued))
        transaction.on_commit(lambda: enqueue(job.id))
    return job


def _announce_created(job: Job, queued: JobEvent) -> None:
    events.broadcast(job.workspace_id, "job.event", {"job_id": job.id, **events.event_dict(queued)})
    events.status_changed(job)


def get_job(user: AbstractBaseUser, job_id: int, minimum: str = Role.VIEWER) -> Job:
    job = Job.objects.select_related("user").filter(id=job_id).first()
    if job is None:
        raise Job.DoesNotExist(f"no job {job_id}")
    require_role(user, job.workspace_id, minimum)
    return job


def list_jobs(user: AbstractBaseUser, workspace_id: int, limit: int = LIST_LIMIT) -> list[dict]:
    require_role(user, workspace_id, Role.VIEWER)
    jobs = Job.objects.filter(workspace_id=workspace_id).select_related("user")[:limit]
    return [events.summary(job) for job in jobs]


def job_detail(job: Job) -> dict:
    return {
        **events.summary(job),
        "events": [events.event_dict(e) for e in job.events.order_by("seq")],
        "changeset": (job.result or {}).get("changeset") or [],
        "summary": (job.result or {}).get("summary", ""),
        "output": (job.result or {}).get("output", ""),
        "exit_code": (job.result or {}).get("exit_code"),
    }


def cancel_job(user: AbstractBaseUser, job_id: int) -> Job:
    """Cancel a queued job at once; ask a running one to stop (its worker notices within a second)."""
    job = get_job(user, job_id, Role.EDITOR)
    if job.is_finished:
        raise JobError(f"The job already {job.status}.")
    cancelled_now = Job.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now(), step="cancelled"
    )
    if cancelled_now:
        job.refresh_from_db()
        events.record(job, "status", f"cancelled by {user.get_username()} before it started", {"status": "cancelled"})
        events.status_changed(job)
        return job
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    job.refresh_from_db()
    events.record(job, "status", f"cancel requested by {user.get_username()}", {"cancel_requested": True})
    return job
