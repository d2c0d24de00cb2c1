"""Job operations for the edges (API, workspace channel): create, list, detail, cancel (sync ORM code).

The edges check the caller's role (`projects.guard`) and find the job in a workspace the caller can see; these
functions act on what they are given.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from workspace.jobs import events, queue
from workspace.jobs.models import Job, JobEvent, JobKind, JobStatus

MAX_PROMPT = 20000
LIST_LIMIT = 50


class JobError(ValueError):
    """A job request that cannot be honoured, with a message for the user."""


def create_job(
    user: AbstractBaseUser, workspace_id: int, kind: str, prompt: str = "", *, enqueue: Callable[[int], None]
) -> Job:
    """Create a queued job and, once the transaction commits, hand its id to `enqueue` (the Celery edge's
    `tasks.deep.enqueue`, passed in by the caller: the task layer sits above every service)."""
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


def create_handover_job(
    user: AbstractBaseUser, workspace_id: int, prompt: str, origin: str, *, enqueue: Callable[[int], None]
) -> Job:
    """An agent job handed over from elsewhere (Spark's "Take this to Deep"): its log says where it came from,
    `origin` being that sentence (e.g. "handed over from Spark thread #12")."""
    job = create_job(user, workspace_id, JobKind.AGENT, prompt[:MAX_PROMPT], enqueue=enqueue)
    events.record(job, "status", origin, {"handover": origin})
    return job


def _announce_created(job: Job, queued: JobEvent) -> None:
    events.broadcast(job.workspace_id, "job.event", {"job_id": job.id, **events.event_dict(queued)})
    events.status_changed(job)


def list_jobs(workspace_id: int, limit: int = LIST_LIMIT) -> list[dict]:
    jobs = Job.objects.filter(workspace_id=workspace_id).select_related("user")[:limit]
    positions = queue.positions(workspace_id)
    return [events.summary(job, positions) for job in jobs]


def job_detail(job: Job) -> dict:
    return {
        **events.summary(job),
        "events": [events.event_dict(e) for e in job.events.order_by("seq")],
        "changeset": (job.result or {}).get("changeset") or [],
        "summary": (job.result or {}).get("summary", ""),
        "output": (job.result or {}).get("output", ""),
        "exit_code": (job.result or {}).get("exit_code"),
    }


def cancel_job(job: Job, username: str) -> Job:
    """Cancel a queued job at once; ask a running one to stop (its worker notices within a second)."""
    if job.is_finished:
        raise JobError(f"The job already {job.status}.")
    cancelled_now = Job.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now(), step="cancelled"
    )
    if cancelled_now:
        job.refresh_from_db()
        events.record(job, "status", f"cancelled by {username} before it started", {"status": "cancelled"})
        events.status_changed(job)
        return job
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    job.refresh_from_db()
    events.record(job, "status", f"cancel requested by {username}", {"cancel_requested": True})
    return job
