"""Aggregates for the dashboard charts: latency distributions per mode, tokens per day, success rates."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

from django.conf import settings

from workspace.history import query, sources
from workspace.history.query import HistoryFilters

# Histogram bucket upper bounds in milliseconds; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not values:
        return None
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def histogram(values: list[float]) -> list[int]:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for value in values:
        index = next((i for i, bound in enumerate(LATENCY_BUCKETS_MS) if value <= bound), len(LATENCY_BUCKETS_MS))
        counts[index] += 1
    return counts


def distribution(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 0.5),
        "p90": percentile(ordered, 0.9),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
        "histogram": histogram(ordered),
    }


def _records(filters: HistoryFilters, limit: int) -> list[dict]:
    """Light per-record facts (no joins), newest `limit` of each type."""
    records: list[dict] = []
    spark = query.spark_filtered(filters)
    if spark is not None:
        fields = ("mode", "status", "created_at", "ttft_ms", "overhead_ms", "tokens")
        records += [{"kind": sources.SPARK, **r} for r in spark.order_by("-created_at").values(*fields)[:limit]]
    jobs = query.jobs_filtered(filters)
    if jobs is not None:
        fields = ("kind", "status", "created_at", "started_at", "tokens_in", "tokens_out")
        for job in jobs.order_by("-created_at").values(*fields)[:limit]:
            queued = job["started_at"] and (job["started_at"] - job["created_at"]).total_seconds() * 1000
            records.append(
                {
                    "kind": sources.JOB,
                    "mode": job["kind"],
                    "status": job["status"],
                    "created_at": job["created_at"],
                    "ttft_ms": None,
                    "overhead_ms": queued if job["started_at"] else None,
                    "tokens": job["tokens_in"] + job["tokens_out"],
                }
            )
    return records


def _outcome(record: dict) -> str | None:
    success = sources.SPARK_SUCCESS if record["kind"] == sources.SPARK else sources.JOB_SUCCESS
    if record["status"] in success:
        return "succeeded"
    if record["status"] in (sources.FAILED, sources.CANCELLED):
        return record["status"]
    return None  # still running


def _rate(counts: dict) -> float | None:
    finished = counts["succeeded"] + counts["failed"]
    return round(counts["succeeded"] / finished, 4) if finished else None


def completion_stats(filters: HistoryFilters, limit: int) -> list[dict]:
    """Completions as you type, per model: how many were asked for, shown and accepted (Tab, or Ctrl+→ for part),
    the acceptance rate (accepted / shown), and keystroke -> ghost text latency and Sparkroom's share of it."""
    model = sources.completion_model()
    if model is None or filters.mode not in ("", "spark") or filters.status or filters.q:
        return []
    qs = model.objects.filter(workspace_id__in=filters.workspace_ids)
    if filters.user:
        qs = qs.filter(user__username=filters.user)
    if filters.date_from:
        qs = qs.filter(created_at__gte=query.day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(created_at__lt=query.day_start(filters.date_to + timedelta(days=1)))
    per_model: dict[str, list[dict]] = defaultdict(list)
    fields = ("model", "outcome", "latency_ms", "server_ms", "cached")
    for row in qs.order_by("-created_at").values(*fields)[:limit]:
        per_model[row["model"]].append(row)
    out = []
    for name in sorted(per_model):
        rows = per_model[name]
        shown = [r for r in rows if r["outcome"] in COMPLETION_SHOWN]
        accepted = [r for r in rows if r["outcome"] in ("accepted", "partial")]
        latency = sorted(r["latency_ms"] for r in shown if r["latency_ms"] is not None)
        server = sorted(r["server_ms"] for r in rows if r["server_ms"] is not None)
        out.append(
            {
                "model": name,
                "requests": len(rows),
                "shown": len(shown),
                "accepted": len(accepted),
                "cached": sum(1 for r in rows if r["cached"]),
                "acceptance_rate": round(len(accepted) / len(shown), 4) if shown else None,
                "latency_p50": percentile(latency, 0.5),
                "latency_p90": percentile(latency, 0.9),
                "latency_p99": percentile(latency, 0.99),
                "server_p50": percentile(server, 0.5),
                "server_p99": percentile(server, 0.99),
            }
        )
    return out


COMPLETION_SHOWN = ("shown", "accepted", "partial", "dismissed")


def history_stats(filters: HistoryFilters, limit: int | None = None) -> dict:
    filters.validate()
    records = _records(filters, limit or settings.HISTORY_STATS_LIMIT)
    ttft: dict[str, list[float]] = defaultdict(list)
    overhead: dict[str, list[float]] = defaultdict(list)
    tokens_per_day: dict[str, dict[str, int]] = defaultdict(lambda: {"spark": 0, "deep": 0})
    success = {kind: {"succeeded": 0, "failed": 0, "cancelled": 0} for kind in ("spark", "deep")}
    success_per_day: dict[str, dict[str, int]] = defaultdict(lambda: {"succeeded": 0, "failed": 0, "cancelled": 0})
    for record in records:
        family = "spark" if record["kind"] == sources.SPARK else "deep"
        mode = f"{family}:{record['mode']}"
        if record["ttft_ms"] is not None:
            ttft[mode].append(record["ttft_ms"])
        if record["overhead_ms"] is not None:
            overhead[mode].append(record["overhead_ms"])
        day = record["created_at"].date().isoformat()
        tokens_per_day[day][family] += record["tokens"] or 0
        outcome = _outcome(record)
        if outcome is not None:
            success[family][outcome] += 1
            success_per_day[day][outcome] += 1
    modes = sorted(set(ttft) | set(overhead))
    return {
        "records": len(records),
        "buckets_ms": list(LATENCY_BUCKETS_MS),
        "latency": {
            mode: {"ttft": distribution(ttft[mode]), "overhead": distribution(overhead[mode])} for mode in modes
        },
        "tokens_per_day": [{"day": day, **tokens_per_day[day]} for day in sorted(tokens_per_day)],
        "success": {family: {**counts, "rate": _rate(counts)} for family, counts in success.items()},
        "success_per_day": [
            {"day": day, **success_per_day[day], "rate": _rate(success_per_day[day])} for day in sorted(success_per_day)
        ],
        "completions": completion_stats(filters, limit or settings.HISTORY_STATS_LIMIT),
    }
