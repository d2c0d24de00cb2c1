"""The per-workspace queue of Deep jobs: at most JOB_WORKSPACE_CONCURRENCY run at once in a workspace, the others
wait in the order they were created (their position is shown on their card), and a freed slot starts the next.

A job's task message may arrive while its workspace is full: the job then stays queued with a "waiting" step and
the task ends at once (no worker slot is held). Whoever frees a slot (a job finishing, failing or being reaped)
calls `start_next`, which sends the oldest queued jobs again; the claim is idempotent, so a duplicate is harmless.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from workspace.jobs.models import Job, JobStatus

WAITING_STEP = "waiting for a free slot"


def limit() -> int:
    return max(1, settings.JOB_WORKSPACE_CONCURRENCY)


def may_start(job: Job) -> bool:
    """Whether `job` (queued) may start now: fewer running jobs than the limit, counting older queued jobs as ahead
    of it. Call inside a transaction holding the workspace row's lock, so two claims never both take the last slot."""
    running = Job.objects.filter(workspace_id=job.workspace_id, status=JobStatus.RUNNING).exclude(id=job.id).count()
    ahead = Job.objects.filter(
        workspace_id=job.workspace_id, status=JobStatus.QUEUED, cancel_requested=False, id__lt=job.id
    ).count()
    return running + ahead < limit()


def positions(workspace_id: int) -> dict[int, int]:
    """Queue position (1 = next to start) of every queued job of the workspace."""
    queued = Job.objects.filter(workspace_id=workspace_id, status=JobStatus.QUEUED, cancel_requested=False)
    return {job_id: index for index, job_id in enumerate(queued.order_by("id").values_list("id", flat=True), 1)}


def position(job: Job) -> int | None:
    if job.status != JobStatus.QUEUED or job.cancel_requested:
        return None
    return positions(job.workspace_id).get(job.id)


def start_next(workspace_id: int, enqueue: Callable[[int], None]) -> list[int]:
    """Send the oldest queued jobs that fit in the workspace's free slots; returns their ids."""
    running = Job.objects.filter(workspace_id=workspace_id, status=JobStatus.RUNNING).count()
    free = limit() - running
    if free <= 0:
        return []
    next_ids = list(positions(workspace_id))[:free]
    # Sent again: not "waiting" any more, so the reaper's backstop leaves them to their message.
    Job.objects.filter(id__in=next_ids, step=WAITING_STEP).update(step="queued")
    for job_id in next_ids:
        enqueue(job_id)
    return next_ids


def waiting_workspaces() -> list[int]:
    """Workspaces with a job refused for want of a slot (the reaper's backstop: a slot freed without a hand-over)."""
    waiting = Job.objects.filter(status=JobStatus.QUEUED, cancel_requested=False, step=WAITING_STEP)
    return sorted(set(waiting.values_list("workspace_id", flat=True)))
