"""Builders for Spark requests and Deep jobs with chosen timings (used by the history and authz tests)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone


def at(days_ago: float = 0, hours: float = 0) -> datetime:
    return timezone.now() - timedelta(days=days_ago, hours=hours)


def make_spark(workspace, user, *, created_at: datetime | None = None, file=None, **fields):
    from workspace.spark.models import SparkRequest

    defaults = {"mode": "insert", "model": "fast-model", "status": "done", "tokens": 40, "prompt": "add a docstring"}
    defaults.update(fields)
    request = SparkRequest.objects.create(workspace=workspace, user=user, file=file, **defaults)
    if created_at is not None:
        # auto_now_add ignores the value given to create().
        SparkRequest.objects.filter(id=request.id).update(created_at=created_at)
        request.refresh_from_db()
    return request


def make_job(workspace, user, *, created_at: datetime | None = None, queued_ms: float = 0, run_ms: float = 0, **fields):
    from workspace.jobs.models import Job

    defaults = {"kind": "agent", "model": "deep-model", "status": "succeeded", "prompt": "write the tests"}
    defaults.update(fields)
    job = Job.objects.create(workspace=workspace, user=user, **defaults)
    created = created_at or job.created_at
    updates = {"created_at": created}
    if defaults["status"] not in ("queued",):
        updates["started_at"] = created + timedelta(milliseconds=queued_ms)
    if defaults["status"] in ("succeeded", "failed", "cancelled"):
        updates["finished_at"] = updates["started_at"] + timedelta(milliseconds=run_ms)
    Job.objects.filter(id=job.id).update(**updates)
    job.refresh_from_db()
    return job
