"""History JSON API: list (filters + pagination), detail, chart aggregates and exports, for one or all workspaces."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.conf import settings
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from workspace.history import detail, export, query, stats
from workspace.history.query import HistoryFilters
from workspace.projects import guard
from workspace.projects.models import Role

router = Router(tags=["history"])
PREFIX = ""


class FiltersIn(Schema):
    mode: str = ""
    status: str = ""
    user: str = ""
    date_from: date | None = None
    date_to: date | None = Field(None, lt=date.max)  # the range ends where the next day starts
    q: str = ""


class PageIn(FiltersIn):
    page: int = Field(1, le=2**31 - 1)  # its offset must fit the database's integers
    page_size: int | None = None


class ExportIn(FiltersIn):
    format: Literal["csv", "json"] = "csv"


class HistoryRow(Schema):
    kind: str
    id: int
    workspace_id: int
    workspace: str
    user: str
    created_at: datetime
    finished_at: datetime | None
    files: list[str]
    mode: str
    model: str
    status: str
    ttft_ms: float | None
    tokens: int
    tokens_per_second: float | None
    duration_ms: float | None
    overhead_ms: float | None
    outcome: str | None
    prompt: str
    error: str


class HistoryPage(Schema):
    items: list[HistoryRow]
    total: int
    page: int
    page_size: int
    pages: int


class EventOut(Schema):
    at: datetime
    kind: str
    message: str
    seq: int | None = None
    data: dict | None = None


class ChangeOut(Schema):
    path: str
    file_id: int | None
    status: str
    diff: str


class ThreadStep(Schema):
    kind: str
    id: int
    instruction: str
    status: str


class HistoryDetail(HistoryRow):
    # The Spark thread of instructions of a region, and the Deep job it was handed over to (or, for a job, the Spark
    # request it came from): the two modes' shared history thread.
    thread: list[ThreadStep] = []
    instruction: str
    full_prompt: str
    inserted_text: str
    replaced_text: str
    diff: str
    events: list[EventOut]
    changeset: list[ChangeOut]
    output: str


class Distribution(Schema):
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    histogram: list[int]


class ModeLatency(Schema):
    ttft: Distribution
    overhead: Distribution


class DayTokens(Schema):
    day: str
    spark: int
    deep: int


class SuccessCounts(Schema):
    succeeded: int
    failed: int
    cancelled: int
    rate: float | None


class DaySuccess(SuccessCounts):
    day: str


class CompletionModelStats(Schema):
    model: str
    requests: int
    shown: int
    accepted: int
    cached: int
    acceptance_rate: float | None
    latency_p50: float | None
    latency_p90: float | None
    latency_p99: float | None
    server_p50: float | None
    server_p99: float | None


class HistoryStats(Schema):
    records: int
    buckets_ms: list[int]
    latency: dict[str, ModeLatency]
    tokens_per_day: list[DayTokens]
    success: dict[str, SuccessCounts]
    success_per_day: list[DaySuccess]
    completions: list[CompletionModelStats]


def _filters(request, params: FiltersIn, workspace_id: int | None) -> HistoryFilters:
    if workspace_id is None:
        workspace_ids = query.member_workspace_ids(request.user)
    else:
        guard.api_role(request, workspace_id, Role.VIEWER)
        workspace_ids = [workspace_id]
    fields = params.dict(include={"mode", "status", "user", "date_from", "date_to", "q"})
    return HistoryFilters(workspace_ids=workspace_ids, **fields)


def _run(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except query.FilterError as exc:
        raise HttpError(400, str(exc)) from exc


def _page(request, params: PageIn, workspace_id: int | None) -> dict:
    page = _run(query.history_page, _filters(request, params, workspace_id), params.page, params.page_size)
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


def _export(request, params: ExportIn, workspace_id: int | None) -> HttpResponse:
    rows = _run(query.newest_rows, _filters(request, params, workspace_id), settings.HISTORY_EXPORT_LIMIT)
    stem = f"sparkroom-history-{workspace_id or 'all'}-{date.today().isoformat()}"
    if params.format == "json":
        response = HttpResponse(export.to_json(rows), content_type="application/json")
    else:
        response = HttpResponse(export.to_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.{params.format}"'
    return response


@router.get("/history", response=HistoryPage)
def history_all(request, params: Query[PageIn]):
    """Spark requests and Deep jobs of every workspace you belong to, newest first."""
    return _page(request, params, None)


@router.get("/history/workspaces/{workspace_id}", response=HistoryPage)
def history_workspace(request, workspace_id: int, params: Query[PageIn]):
    return _page(request, params, workspace_id)


@router.get("/history/stats", response=HistoryStats)
def history_stats_all(request, params: Query[FiltersIn]):
    """Chart data: latency distributions (TTFT, overhead) per mode, tokens per day, success rates."""
    return _run(stats.history_stats, _filters(request, params, None))


@router.get("/history/workspaces/{workspace_id}/stats", response=HistoryStats)
def history_stats_workspace(request, workspace_id: int, params: Query[FiltersIn]):
    return _run(stats.history_stats, _filters(request, params, workspace_id))


@router.get("/history/export")
def history_export_all(request, params: Query[ExportIn]):
    """The filtered history as a CSV or JSON download."""
    return _export(request, params, None)


@router.get("/history/workspaces/{workspace_id}/export")
def history_export_workspace(request, workspace_id: int, params: Query[ExportIn]):
    return _export(request, params, workspace_id)


@router.get("/history/spark/{request_id}", response=HistoryDetail)
def spark_request_detail(request, request_id: int):
    record = guard.api_record(request, detail.find_spark(request_id), Role.VIEWER, missing="not found")
    return detail.spark_detail(record)


@router.get("/history/jobs/{job_id}", response=HistoryDetail)
def job_detail(request, job_id: int):
    record = guard.api_record(request, detail.find_job(job_id), Role.VIEWER, missing="not found")
    return detail.job_detail(record)
