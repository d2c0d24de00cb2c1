"""A job survives its worker being killed: requeued and finished by another worker, or failed with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tasks.deep import enqueue
from tests.support.live import celery_worker
from tests.support.stubborn_job import STUBBORN_COMMAND
from workspace.jobs import runner, services
from workspace.jobs.models import Job, JobEvent, JobStatus
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

WORKER_ENV = {"JOB_HEARTBEAT_SECONDS": "0.3", "JOB_STALE_SECONDS": "2", "JOB_REAP_INTERVAL": "1"}


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def kill_worker_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes at once, like an OOM kill or a lost machine."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    for pid in [proc.pid, *map(int, children)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def start_tests_job(user, settings, command: str) -> Job:
    settings.JOB_TESTS_COMMAND = command
    workspace = create_workspace(user, "Recovery")
    return services.create_job(user, workspace.id, "tests", enqueue=enqueue)


@pytest.fixture(autouse=True)
def artifacts():
    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    (django_settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)


def test_job_of_a_killed_worker_is_requeued_and_finished_by_the_next_worker(user, settings):
    job = start_tests_job(user, settings, "sleep 2; echo finished")
    with celery_worker(1, **WORKER_ENV) as first:
        wait_until(lambda: JobEvent.objects.filter(job=job, kind="tool_call").exists(), 20, "the command to start")
        kill_worker_tree(first)
    assert Job.objects.get(id=job.id).status == JobStatus.RUNNING
    with celery_worker(1, **WORKER_ENV):
        final = wait_until(lambda: Job.objects.filter(id=job.id, finished_at__isnull=False).first(), 30, "the job")
    assert final.status == JobStatus.SUCCEEDED, final.error
    assert final.attempts == 2
    messages = list(JobEvent.objects.filter(job=job).values_list("message", flat=True))
    assert "the worker was lost; requeued" in messages
    assert "finished" in final.result["output"]


def test_job_whose_worker_keeps_dying_is_failed_with_the_reason(user, settings):
    job = start_tests_job(user, settings, "sleep 30")
    env = {**WORKER_ENV, "JOB_MAX_ATTEMPTS": "1"}
    with celery_worker(1, **env) as first:
        wait_until(lambda: JobEvent.objects.filter(job=job, kind="tool_call").exists(), 20, "the command to start")
        kill_worker_tree(first)
    with celery_worker(1, **env):
        final = wait_until(lambda: Job.objects.filter(id=job.id, finished_at__isnull=False).first(), 30, "the job")
    assert final.status == JobStatus.FAILED
    assert "worker running this job stopped" in final.error


def test_soft_time_limit_fails_the_job_and_kills_its_command(user, settings):
    settings.JOB_SOFT_TIME_LIMIT, settings.JOB_HARD_TIME_LIMIT = 2, 10
    job = start_tests_job(user, settings, "sleep 45")
    with celery_worker(1):
        final = wait_until(lambda: Job.objects.filter(id=job.id, finished_at__isnull=False).first(), 20, "the job")
    assert final.status == JobStatus.FAILED
    assert final.error == "time limit of 2 s reached"
    # The sandbox's processes die with bwrap (--die-with-parent), which the kernel signals asynchronously.
    leftovers = wait_until(
        lambda: not subprocess.run(["pgrep", "-f", "sleep 45"], capture_output=True, text=True).stdout.split(),
        5,
        "the command to be gone",
    )
    assert leftovers


def test_a_job_that_ignores_its_soft_limit_is_killed_at_the_hard_one_with_its_sandbox_and_the_next_job_runs(
    user, settings
):
    # tests.support.stubborn_job is the production task class and sandbox with a job body that swallows its soft limit.
    from tasks.celery import app

    workspace = create_workspace(user, "Stubborn")
    job = services.create_job(user, workspace.id, "tests", enqueue=lambda _id: None)
    with celery_worker(1, include=("tests.support.stubborn_job",)):
        app.send_task("tests.support.stubborn_job", (job.id,), soft_time_limit=1, time_limit=4)
        wait_until(lambda: JobEvent.objects.filter(job=job, message="soft time limit ignored").exists(), 20, "soft")
        running = wait_until(
            lambda: subprocess.run(["pgrep", "-f", STUBBORN_COMMAND], capture_output=True).returncode == 0,
            3,
            "the command started again",
        )
        assert running and not Job.objects.filter(id=job.id, finished_at__isnull=False).exists()
        final = wait_until(lambda: Job.objects.filter(id=job.id, finished_at__isnull=False).first(), 20, "the job")
        assert final.status == JobStatus.FAILED
        assert final.error == "hard time limit of 4 s reached: the job did not stop at its soft limit and was killed"
        # The log says it too (written just after the status).
        wait_until(lambda: JobEvent.objects.filter(job=job, message=f"failed: {final.error}").exists(), 5, "the log")
        gone = wait_until(
            lambda: subprocess.run(["pgrep", "-f", STUBBORN_COMMAND], capture_output=True).returncode == 1,
            5,
            "the sandboxed command to be gone",
        )
        assert gone
        # The worker replaced its killed process and goes on with the next job.
        settings.JOB_TESTS_COMMAND = "echo next"
        after = services.create_job(user, workspace.id, "tests", enqueue=enqueue)
        done = wait_until(lambda: Job.objects.filter(id=after.id, finished_at__isnull=False).first(), 30, "next job")
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED  # not run again by a redelivered message


def test_reaper_leaves_jobs_with_a_fresh_heartbeat_alone_and_requeues_stale_ones(user, settings):
    settings.JOB_STALE_SECONDS = 5
    workspace = create_workspace(user, "Reaper")
    fresh = Job.objects.create(workspace=workspace, user=user, kind="tests", status="running", attempts=1)
    stale = Job.objects.create(workspace=workspace, user=user, kind="tests", status="running", attempts=1)
    cancelled = Job.objects.create(
        workspace=workspace, user=user, kind="tests", status="running", attempts=1, cancel_requested=True
    )
    Job.objects.filter(id=fresh.id).update(heartbeat_at=timezone.now())
    Job.objects.filter(id__in=[stale.id, cancelled.id]).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    requeued: list[int] = []
    outcomes = runner.reap_stale_jobs(requeue=requeued.append)
    assert sorted(outcomes) == sorted([(stale.id, "queued"), (cancelled.id, "cancelled")])
    assert requeued == [stale.id]
    assert Job.objects.get(id=fresh.id).status == "running"
    # The requeued job is claimable exactly once.
    assert runner.claim(stale.id) is not None
    assert runner.claim(stale.id) is None
