"""The per-workspace job queue: the concurrency limit, queue positions, cancel from the queue, the next job started
when a slot frees (in process, and by a real `celery worker`)."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from tasks.deep import enqueue
from tests.support.live import celery_worker
from workspace.jobs import queue, runner, services
from workspace.jobs.models import Job, JobStatus
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True)]


def queued_jobs(user, workspace, count: int) -> list[Job]:
    return [services.create_job(user, workspace.id, "tests", enqueue=lambda _id: None) for _ in range(count)]


def api(user, method: str, url: str):
    client = Client()
    client.force_login(user)
    if method == "get":
        return client.get(url)
    return client.post(url, json.dumps({}), content_type="application/json")


@pytest.mark.embedded
def test_a_full_workspace_keeps_jobs_queued_in_order_and_a_freed_slot_starts_the_next(user, settings):
    settings.JOB_WORKSPACE_CONCURRENCY = 1
    workspace = create_workspace(user, "Busy")
    other = create_workspace(user, "Elsewhere")
    first, second, third = queued_jobs(user, workspace, 3)
    assert runner.claim(first.id) is not None
    assert runner.claim(third.id) is None  # the second is ahead of it
    assert runner.claim(second.id) is None
    assert Job.objects.get(id=second.id).step == queue.WAITING_STEP
    listed = {j["id"]: j for j in api(user, "get", f"/api/workspaces/{workspace.id}/jobs").json()}
    assert (listed[first.id]["queue_position"], listed[second.id]["queue_position"]) == (None, 1)
    assert listed[third.id]["queue_position"] == 2
    # Another workspace has slots of its own.
    [elsewhere] = queued_jobs(user, other, 1)
    assert runner.claim(elsewhere.id) is not None

    # Cancel from the queue: the job behind moves up.
    cancelled = api(user, "post", f"/api/jobs/{second.id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["queue_position"] is None
    assert api(user, "get", f"/api/jobs/{third.id}").json()["queue_position"] == 1

    sent: list[int] = []
    assert queue.start_next(workspace.id, sent.append) == []  # still full
    Job.objects.filter(id=first.id).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert queue.start_next(workspace.id, sent.append) == [third.id] and sent == [third.id]
    assert runner.claim(third.id) is not None


@pytest.mark.embedded
def test_the_reaper_starts_a_waiting_job_whose_slot_was_freed_without_a_hand_over(user, settings):
    settings.JOB_WORKSPACE_CONCURRENCY = 1
    workspace = create_workspace(user, "Lost hand-over")
    first, second = queued_jobs(user, workspace, 2)
    runner.claim(first.id)
    assert runner.claim(second.id) is None
    Job.objects.filter(id=first.id).update(status=JobStatus.FAILED, finished_at=timezone.now())
    sent: list[int] = []
    runner.reap_stale_jobs(requeue=sent.append)
    assert sent == [second.id]
    sent.clear()
    runner.reap_stale_jobs(requeue=sent.append)
    assert sent == []  # sent once: no longer "waiting"


@pytest.mark.redis
def test_a_real_worker_runs_a_workspace_s_jobs_one_after_the_other_at_a_limit_of_one(user, settings):
    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    (django_settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    settings.JOB_TESTS_COMMAND = "sleep 1; echo done"
    workspace = create_workspace(user, "Serial")
    with celery_worker(2, JOB_WORKSPACE_CONCURRENCY="1"):
        jobs = [services.create_job(user, workspace.id, "tests", enqueue=enqueue) for _ in range(2)]
        deadline = time.monotonic() + 40
        while Job.objects.filter(id__in=[j.id for j in jobs], finished_at__isnull=True).exists():
            assert time.monotonic() < deadline, "the jobs did not finish"
            time.sleep(0.2)
    first, second = (Job.objects.get(id=j.id) for j in jobs)
    assert first.status == second.status == JobStatus.SUCCEEDED, (first.error, second.error)
    assert second.started_at >= first.finished_at
