"""Deep-mode Celery tasks: run a job, and reap jobs whose worker died.

The task takes only the job id and is idempotent (the runner claims the job with a conditional
update). acks_late + reject_on_worker_lost put the message back if the worker process dies; the
reaper (at worker start and every JOB_REAP_INTERVAL seconds) requeues or fails jobs whose
heartbeat went stale, so no job stays "running" forever.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import TimeLimitExceeded
from django.conf import settings

from tasks import housekeeping
from workspace.jobs import runner

logger = logging.getLogger(__name__)


class JobTask(DjangoTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Reached when Celery gives up on the task itself (e.g. the hard time limit killed it).
        if not args:
            return
        if isinstance(exc, TimeLimitExceeded):
            # The job did not stop at its soft limit: the pool process running it was killed, its sandbox with it.
            limit = exc.args[0]
            reason = f"hard time limit of {limit:g} s reached: the job did not stop at its soft limit and was killed"
        else:
            reason = f"the worker gave up on the job: {type(exc).__name__}: {exc}"
        runner.fail_if_unfinished(int(args[0]), reason, enqueue=enqueue)


@shared_task(
    name="jobs.run",
    bind=True,
    base=JobTask,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.JOB_SOFT_TIME_LIMIT,
    time_limit=settings.JOB_HARD_TIME_LIMIT,
)
def run_job(self, job_id: int) -> str:
    limits = self.request.timelimit or (None, None)  # (hard, soft) as the message carries them
    return runner.run_job(job_id, soft_time_limit=limits[1], enqueue=enqueue)


def enqueue(job_id: int) -> None:
    """Send the task with the time limits configured now (the message carries them to the worker)."""
    run_job.apply_async(
        (job_id,), soft_time_limit=settings.JOB_SOFT_TIME_LIMIT, time_limit=settings.JOB_HARD_TIME_LIMIT
    )


@shared_task(name="jobs.reap", ignore_result=True)
def reap_jobs() -> list:
    return runner.reap_stale_jobs(requeue=enqueue)


@housekeeping.every("job-reaper", lambda: settings.JOB_REAP_INTERVAL)
def reap_stale_jobs() -> None:
    for job_id, outcome in runner.reap_stale_jobs(requeue=enqueue):
        logger.warning("reaped stale job %s: %s", job_id, outcome)
