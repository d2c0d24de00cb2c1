"""One history record in full: prompt, event log, diff or inserted text, errors."""

from __future__ import annotations

import difflib
from datetime import timedelta

from django.db.models import Model, Q

from workspace.history import sources


def text_diff(before: str, after: str, path: str = "file") -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)


def find_spark(request_id: int) -> Model | None:
    qs = sources.spark_queryset()
    return None if qs is None else qs.filter(id=request_id).first()


def find_job(job_id: int) -> Model | None:
    qs = sources.job_queryset()
    return None if qs is None else qs.filter(id=job_id).first()


def _job_step(job: Model) -> dict:
    return {"kind": sources.JOB, "id": job.id, "instruction": job.prompt[:500], "status": job.status}


def spark_thread(request: Model) -> list[dict]:
    """The region's thread of instructions (first request first) and, if it was handed over, its Deep job."""
    qs = sources.spark_queryset()
    root = getattr(request, "thread_id", None) or request.id
    members = list(qs.filter(Q(id=root) | Q(thread_id=root)).order_by("id"))
    steps = [{"kind": sources.SPARK, "id": m.id, "instruction": m.instruction, "status": m.status} for m in members]
    job_id = next((m.handover_job_id for m in members if getattr(m, "handover_job_id", None)), None)
    job = find_job(job_id) if job_id else None
    if job is not None and job.workspace_id == request.workspace_id:
        steps.append(_job_step(job))
    return steps


def job_thread(job: Model) -> list[dict]:
    """For a job handed over from Spark: that Spark thread, then the job."""
    qs = sources.spark_queryset()
    origin = qs.filter(handover_job_id=job.id, workspace_id=job.workspace_id).order_by("id").first() if qs else None
    return spark_thread(origin) if origin is not None else []


def _spark_timeline(request: Model) -> list[dict]:
    """Spark requests keep no event table: the log is rebuilt from their timestamps."""
    events = [{"at": request.created_at, "kind": "started", "message": f"{request.mode} with {request.model or '?'}"}]
    if request.ttft_ms is not None:
        first = request.created_at + timedelta(milliseconds=request.ttft_ms)
        events.append({"at": first, "kind": "first_token", "message": f"first token after {request.ttft_ms:.0f} ms"})
    if request.finished_at is not None:
        message = f"{request.tokens} tokens" + (f" — {request.error}" if request.error else "")
        events.append({"at": request.finished_at, "kind": request.status, "message": message})
    return events


def spark_detail(request: Model) -> dict:
    path = request.file.path if request.file_id else "file"
    diff = text_diff(request.replaced_text, request.inserted_text, path) if request.replaced_text else ""
    return {
        **sources.spark_row(request),
        "instruction": getattr(request, "instruction", ""),
        "full_prompt": request.prompt,
        "inserted_text": request.inserted_text,
        "replaced_text": request.replaced_text,
        "diff": diff,
        "events": _spark_timeline(request),
        "changeset": [],
        "output": "",
        "thread": spark_thread(request),
    }


def job_detail(job: Model) -> dict:
    events = [
        {"at": e.created_at, "seq": e.seq, "kind": e.kind, "message": e.message, "data": e.data}
        for e in job.events.order_by("seq")
    ]
    result = job.result if isinstance(job.result, dict) else {}
    changes = [
        {
            "path": str(c.get("path") or ""),
            "file_id": c.get("file_id"),
            "status": " · ".join(part for part in (str(c.get("status", "")), sources.apply_status(c)) if part),
            "diff": str(c.get("diff") or ""),
        }
        for c in sources.changeset(job)
    ]
    return {
        **sources.job_row(job),
        "instruction": job.prompt,
        "full_prompt": job.prompt,
        "inserted_text": "",
        "replaced_text": "",
        "diff": "\n".join(c["diff"] for c in changes if c["diff"]),
        "events": events,
        "changeset": changes,
        "output": str(result.get("output", "") or ""),
        "thread": job_thread(job),
    }
