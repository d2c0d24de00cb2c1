"""A Deep job that ignores its soft time limit, for the hard-limit test of tests/jobs/test_jobs_recovery.py.

The worker is started with `--include tests.support.stubborn_job`. The task has the production task class
(`JobTask`, whose `on_failure` Celery calls when it kills a task at its hard limit) and runs its command through the
production sandbox, but swallows SoftTimeLimitExceeded and starts the command again, as job code catching every
exception would.
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from tasks.deep import JobTask
from workspace.jobs import events, runner, sandbox
from workspace.jobs.snapshot import scratch_dir

STUBBORN_COMMAND = "sleep 47"


@shared_task(name="tests.support.stubborn_job", bind=True, base=JobTask, acks_late=True, reject_on_worker_lost=True)
def run_ignoring_soft_limit(self, job_id: int) -> None:
    job = runner.claim(job_id)
    if job is None:
        return
    root = scratch_dir(job.id, job.attempts)
    root.mkdir(parents=True, exist_ok=True)
    events.record(job, "tool_call", f"run_command({STUBBORN_COMMAND})")
    while True:
        try:
            sandbox.run_command(STUBBORN_COMMAND, root, time_limit=120)
        except SoftTimeLimitExceeded:
            events.record(job, "status", "soft time limit ignored")
