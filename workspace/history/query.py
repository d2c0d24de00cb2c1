"""Filtering and paginating the history of Spark requests and Deep jobs, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import CharField, Q, QuerySet, Value
from django.utils import timezone

from workspace.history import sources
from workspace.projects.models import Membership

MODE_CHOICES = ("spark", "deep", *sources.SPARK_MODES, *sources.JOB_KINDS)


class FilterError(ValueError):
    """A filter value that makes no sense, with a message fit for the user."""


@dataclass
class HistoryFilters:
    """What to show. `mode` is "spark", "deep", a Spark mode (insert, ...) or a job kind (agent, ...)."""

    workspace_ids: list[int] = field(default_factory=list)
    mode: str = ""
    status: str = ""
    user: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""

    def validate(self) -> HistoryFilters:
        if self.mode and self.mode not in MODE_CHOICES:
            raise FilterError(f"Unknown mode {self.mode!r}; use one of {', '.join(MODE_CHOICES)}.")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise FilterError("date_from is after date_to.")
        return self


def member_workspace_ids(user: AbstractBaseUser) -> list[int]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).values_list("workspace_id", flat=True))


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _common(qs: QuerySet, filters: HistoryFilters) -> QuerySet:
    qs = qs.filter(workspace_id__in=filters.workspace_ids)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.user:
        qs = qs.filter(user__username=filters.user)
    if filters.date_from:
        qs = qs.filter(created_at__gte=day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(created_at__lt=day_start(filters.date_to + timedelta(days=1)))
    return qs


def spark_filtered(filters: HistoryFilters) -> QuerySet | None:
    qs = sources.spark_queryset()
    if qs is None or filters.mode in ("deep", *sources.JOB_KINDS):
        return None
    qs = _common(qs, filters)
    if filters.mode in sources.SPARK_MODES:
        qs = qs.filter(mode=filters.mode)
    if filters.q:
        qs = qs.filter(Q(instruction__icontains=filters.q) | Q(prompt__icontains=filters.q))
    return qs


def jobs_filtered(filters: HistoryFilters) -> QuerySet | None:
    qs = sources.job_queryset()
    if qs is None or filters.mode in ("spark", *sources.SPARK_MODES):
        return None
    qs = _common(qs, filters)
    if filters.mode in sources.JOB_KINDS:
        qs = qs.filter(kind=filters.mode)
    if filters.q:
        qs = qs.filter(Q(prompt__icontains=filters.q) | Q(command__icontains=filters.q))
    return qs


@dataclass
class Page:
    items: list[dict]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _keys(qs: QuerySet, kind: str) -> QuerySet:
    return (
        qs.order_by()
        .annotate(record_kind=Value(kind, output_field=CharField()))
        .values_list("created_at", "id", "record_kind")
    )


def newest_keys(filters: HistoryFilters, offset: int, limit: int) -> list[tuple[str, int]]:
    """(kind, id) of the records at [offset, offset+limit) in newest-first order, paginated in the database."""
    parts = [
        _keys(qs, kind)
        for qs, kind in ((spark_filtered(filters), sources.SPARK), (jobs_filtered(filters), sources.JOB))
        if qs is not None
    ]
    if not parts:
        return []
    combined = parts[0] if len(parts) == 1 else parts[0].union(parts[1], all=True)
    # Column positions, since a UNION has no field names to order by on every backend.
    rows = combined.order_by("-created_at", "-id")[offset : offset + limit]
    return [(kind, pk) for _created, pk, kind in rows]


def rows_for(keys: list[tuple[str, int]], chunk: int = 500) -> list[dict]:
    """Full rows for (kind, id) keys, in the keys' order (loaded in chunks to respect SQLite's parameter limit)."""
    if len(keys) > chunk:
        return [row for start in range(0, len(keys), chunk) for row in rows_for(keys[start : start + chunk], chunk)]
    spark_ids = [pk for kind, pk in keys if kind == sources.SPARK]
    job_ids = [pk for kind, pk in keys if kind == sources.JOB]
    found: dict[tuple[str, int], dict] = {}
    if spark_ids:
        spark_rows = sources.spark_queryset().filter(id__in=spark_ids)
        found.update({(sources.SPARK, r.id): sources.spark_row(r) for r in spark_rows})
    if job_ids:
        found.update({(sources.JOB, j.id): sources.job_row(j) for j in sources.job_queryset().filter(id__in=job_ids)})
    return [found[key] for key in keys if key in found]


def count(filters: HistoryFilters) -> int:
    return sum(qs.count() for qs in (spark_filtered(filters), jobs_filtered(filters)) if qs is not None)


def history_page(filters: HistoryFilters, page: int = 1, page_size: int | None = None) -> Page:
    filters.validate()
    page_size = max(1, min(page_size or settings.HISTORY_PAGE_SIZE, settings.HISTORY_MAX_PAGE_SIZE))
    page = max(1, page)
    keys = newest_keys(filters, (page - 1) * page_size, page_size)
    return Page(items=rows_for(keys), total=count(filters), page=page, page_size=page_size)


def newest_rows(filters: HistoryFilters, limit: int) -> list[dict]:
    """Up to `limit` matching rows, newest first (for charts and exports)."""
    filters.validate()
    return rows_for(newest_keys(filters, 0, limit))
