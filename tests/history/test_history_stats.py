"""Chart aggregates: latency distributions per mode, tokens per day, success rates."""

from __future__ import annotations

import pytest

from tests.support.history_data import at, make_job, make_spark
from workspace.history import stats
from workspace.history.query import HistoryFilters

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_percentiles_use_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert stats.percentile(values, 0.5) == 50.0
    assert stats.percentile(values, 0.9) == 90.0
    assert stats.percentile(values, 0.99) == 99.0
    assert stats.percentile([], 0.5) is None


def test_histogram_puts_each_value_in_the_first_bucket_that_holds_it():
    counts = stats.histogram([5, 10, 11, 99999])
    assert counts[0] == 2 and counts[1] == 1 and counts[-1] == 1 and sum(counts) == 4


def test_latency_is_split_per_mode_with_ttft_and_overhead(workspace_with_file, user):
    workspace, _ = workspace_with_file
    for ttft, overhead in ((100.0, 1.0), (300.0, 3.0), (200.0, 2.0)):
        make_spark(workspace, user, mode="insert", ttft_ms=ttft, overhead_ms=overhead)
    make_spark(workspace, user, mode="fix", ttft_ms=900.0, overhead_ms=9.0)
    make_job(workspace, user, queued_ms=1500, run_ms=100)
    result = stats.history_stats(HistoryFilters(workspace_ids=[workspace.id]))
    insert = result["latency"]["spark:insert"]
    assert insert["ttft"]["count"] == 3 and insert["ttft"]["p50"] == 200.0 and insert["ttft"]["max"] == 300.0
    assert insert["overhead"]["p90"] == 3.0
    assert result["latency"]["spark:fix"]["ttft"]["p50"] == 900.0
    deep = result["latency"]["deep:agent"]
    assert deep["ttft"]["count"] == 0 and deep["overhead"]["p50"] == pytest.approx(1500.0)


def test_tokens_are_summed_per_day_and_family(workspace_with_file, user):
    workspace, _ = workspace_with_file
    make_spark(workspace, user, created_at=at(1), tokens=10)
    make_spark(workspace, user, created_at=at(1), tokens=5)
    make_job(workspace, user, created_at=at(1), tokens_in=100, tokens_out=20)
    make_spark(workspace, user, created_at=at(0), tokens=7)
    days = stats.history_stats(HistoryFilters(workspace_ids=[workspace.id]))["tokens_per_day"]
    assert [(d["spark"], d["deep"]) for d in days] == [(15, 120), (7, 0)]
    assert days[0]["day"] < days[1]["day"]


def test_success_rate_ignores_running_and_cancelled_records(workspace_with_file, user):
    workspace, _ = workspace_with_file
    for status in ("done", "accepted", "rejected", "failed", "cancelled", "streaming"):
        make_spark(workspace, user, status=status)
    make_job(workspace, user, status="succeeded")
    make_job(workspace, user, status="running")
    result = stats.history_stats(HistoryFilters(workspace_ids=[workspace.id]))
    assert result["success"]["spark"] == {"succeeded": 3, "failed": 1, "cancelled": 1, "rate": 0.75}
    assert result["success"]["deep"]["rate"] == 1.0
    assert result["success_per_day"][0]["succeeded"] == 4


def test_filters_apply_to_the_charts_too(workspace_with_file, user):
    workspace, _ = workspace_with_file
    make_spark(workspace, user, mode="insert", ttft_ms=10.0)
    make_job(workspace, user)
    result = stats.history_stats(HistoryFilters(workspace_ids=[workspace.id], mode="spark"))
    assert result["records"] == 1 and list(result["latency"]) == ["spark:insert"]
