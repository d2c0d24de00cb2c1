"""The two record types the history shows: Spark requests and Deep jobs, flattened into one row shape."""

from __future__ import annotations

from datetime import datetime

from django.apps import apps
from django.db.models import Model, QuerySet

SPARK = "spark"
JOB = "job"
SPARK_MODES = ("insert", "replace", "chat", "format", "fix")
JOB_KINDS = ("agent", "tests", "lint")
# Statuses that count as a successful run / a failure, per record type.
SPARK_SUCCESS = ("done", "accepted", "rejected")
JOB_SUCCESS = ("succeeded",)
FAILED = "failed"
CANCELLED = "cancelled"
IN_PROGRESS = ("streaming", "queued", "running")


def spark_model() -> type[Model] | None:
    try:
        return apps.get_model("spark", "SparkRequest")
    except LookupError:
        return None


def job_model() -> type[Model] | None:
    try:
        return apps.get_model("jobs", "Job")
    except LookupError:
        return None


def completion_model() -> type[Model] | None:
    try:
        return apps.get_model("spark", "Completion")
    except LookupError:
        return None


def spark_queryset() -> QuerySet | None:
    model = spark_model()
    return None if model is None else model.objects.select_related("user", "workspace", "file")


def job_queryset() -> QuerySet | None:
    model = job_model()
    return None if model is None else model.objects.select_related("user", "workspace")


def _ms_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * 1000, 1)


def changeset(job: Model) -> list[dict]:
    result = job.result if isinstance(job.result, dict) else {}
    entries = result.get("changeset") or []
    return [e for e in entries if isinstance(e, dict)]


def apply_status(entry: dict) -> str:
    """A changeset entry's review state: "applied", "conflict", "applying" or "" (not applied yet)."""
    applied = entry.get("apply")
    return str(applied.get("status", "")) if isinstance(applied, dict) else ""


def job_outcome(job: Model) -> str | None:
    """accepted (all files applied) / partial / conflict / pending, from the changeset; None without one."""
    states = [apply_status(e) for e in changeset(job)]
    if not states:
        return None
    if "conflict" in states:
        return "conflict"
    applied = states.count("applied")
    if applied == len(states):
        return "accepted"
    return "partial" if applied else "pending"


def spark_outcome(request: Model) -> str | None:
    if request.status in ("accepted", "rejected"):
        return request.status
    if request.status == "done":
        return "pending"
    return None


def spark_row(request: Model) -> dict:
    return {
        "kind": SPARK,
        "id": request.id,
        "workspace_id": request.workspace_id,
        "workspace": request.workspace.name,
        "user": request.user.username if request.user_id else "",
        "created_at": request.created_at,
        "finished_at": request.finished_at,
        "files": [request.file.path] if request.file_id else [],
        "mode": request.mode,
        "model": request.model,
        "status": request.status,
        "ttft_ms": request.ttft_ms,
        "tokens": request.tokens,
        "tokens_per_second": request.tokens_per_second,
        "duration_ms": request.duration_ms,
        "overhead_ms": request.overhead_ms,
        "outcome": spark_outcome(request),
        "prompt": getattr(request, "instruction", "") or request.prompt,
        "error": request.error,
    }


def job_row(job: Model) -> dict:
    duration_ms = _ms_between(job.started_at, job.finished_at)
    tokens = job.tokens_out
    return {
        "kind": JOB,
        "id": job.id,
        "workspace_id": job.workspace_id,
        "workspace": job.workspace.name,
        "user": job.user.username if job.user_id else "",
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "files": sorted({str(e.get("path")) for e in changeset(job) if e.get("path")}),
        "mode": job.kind,
        "model": job.model,
        "status": job.status,
        # Jobs stream nothing to the editor: no TTFT; Sparkroom's overhead is the time spent queued.
        "ttft_ms": None,
        "tokens": tokens,
        "tokens_per_second": round(tokens / (duration_ms / 1000), 1) if duration_ms and tokens else None,
        "duration_ms": duration_ms,
        "overhead_ms": _ms_between(job.created_at, job.started_at),
        "outcome": job_outcome(job),
        "prompt": job.prompt or getattr(job, "command", ""),
        "error": job.error,
    }
