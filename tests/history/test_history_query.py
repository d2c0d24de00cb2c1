"""History service: filters, newest-first pagination across Spark requests and jobs, rows and details."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.helpers import make_member, make_user
from tests.support.history_data import at, make_job, make_spark
from workspace.history import detail, query, sources
from workspace.history.query import FilterError, HistoryFilters
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture
def history(workspace_with_file, user, other_user):
    workspace, node = workspace_with_file
    make_member(workspace, other_user, "editor")
    records = {
        "s_old": make_spark(workspace, user, created_at=at(3), mode="insert", prompt="add logging", file=node),
        "j_mid": make_job(workspace, other_user, created_at=at(2), prompt="refactor the parser", run_ms=4000),
        "s_fail": make_spark(workspace, other_user, created_at=at(1), mode="fix", status="failed", error="timeout"),
        "s_new": make_spark(workspace, user, created_at=at(0, hours=1), mode="replace", status="accepted"),
        "j_new": make_job(workspace, user, created_at=at(0), kind="lint", status="failed", prompt="", command="ruff"),
    }
    return workspace, records


def keys(rows):
    return [(r["kind"], r["id"]) for r in rows]


def key(records, name):
    return ("job" if name.startswith("j") else "spark", records[name].id)


def test_spark_requests_and_jobs_are_merged_newest_first(history):
    workspace, r = history
    page = query.history_page(HistoryFilters(workspace_ids=[workspace.id]))
    expected = ["j_new", "s_new", "s_fail", "j_mid", "s_old"]
    assert keys(page.items) == [key(r, name) for name in expected]
    assert page.total == 5 and page.pages == 1


def test_pages_follow_each_other_without_gaps_or_repeats(history):
    workspace, _ = history
    filters = HistoryFilters(workspace_ids=[workspace.id])
    everything = keys(query.history_page(filters, 1, 50).items)
    paged = [k for n in (1, 2, 3) for k in keys(query.history_page(filters, n, 2).items)]
    assert paged == everything
    assert query.history_page(filters, 3, 2).pages == 3


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("spark", {"s_old", "s_fail", "s_new"}), ("deep", {"j_mid", "j_new"}), ("fix", {"s_fail"}), ("lint", {"j_new"})],
)
def test_mode_filter_selects_spark_deep_or_one_sub_mode(history, mode, expected):
    workspace, r = history
    page = query.history_page(HistoryFilters(workspace_ids=[workspace.id], mode=mode))
    assert set(keys(page.items)) == {key(r, name) for name in expected}


def test_status_and_user_filters_combine(history):
    workspace, r = history
    page = query.history_page(HistoryFilters(workspace_ids=[workspace.id], status="failed", user="bob"))
    assert keys(page.items) == [("spark", r["s_fail"].id)]


def test_date_range_includes_whole_days_at_both_ends(history):
    workspace, r = history
    day = r["j_mid"].created_at.date()
    page = query.history_page(HistoryFilters(workspace_ids=[workspace.id], date_from=day, date_to=day))
    assert keys(page.items) == [("job", r["j_mid"].id)]


def test_text_search_looks_in_prompts_and_commands_case_insensitively(history):
    workspace, r = history
    found = query.history_page(HistoryFilters(workspace_ids=[workspace.id], q="PARSER")).items
    assert keys(found) == [("job", r["j_mid"].id)]
    assert keys(query.history_page(HistoryFilters(workspace_ids=[workspace.id], q="ruff")).items) == [
        ("job", r["j_new"].id)
    ]


def test_other_workspaces_records_never_appear(history, user):
    workspace, _ = history
    stranger = make_user("mallory")
    elsewhere = create_workspace(stranger, "Elsewhere")
    make_spark(elsewhere, stranger, prompt="secret plan")
    mine = query.member_workspace_ids(user)
    assert elsewhere.id not in mine
    page = query.history_page(HistoryFilters(workspace_ids=mine, q="secret"))
    assert page.items == [] and page.total == 0


def test_bad_filters_are_refused_with_a_clear_message(history):
    workspace, _ = history
    with pytest.raises(FilterError, match="Unknown mode"):
        query.history_page(HistoryFilters(workspace_ids=[workspace.id], mode="turbo"))
    today = at(0).date()
    with pytest.raises(FilterError, match="after"):
        query.history_page(HistoryFilters(workspace_ids=[workspace.id], date_from=today, date_to=today - timedelta(1)))


def test_rows_carry_the_dashboard_columns(history):
    workspace, r = history
    rows = {
        (row["kind"], row["id"]): row for row in query.history_page(HistoryFilters(workspace_ids=[workspace.id])).items
    }
    spark = rows[("spark", r["s_old"].id)]
    assert spark["files"] == ["src/main.py"] and spark["user"] == "alice" and spark["mode"] == "insert"
    job = rows[("job", r["j_mid"].id)]
    assert job["duration_ms"] == 4000.0 and job["ttft_ms"] is None and job["user"] == "bob"
    assert rows[("spark", r["s_new"].id)]["outcome"] == "accepted"


def test_spark_detail_has_diff_of_replaced_text_and_a_timeline(workspace_with_file, user):
    workspace, node = workspace_with_file
    request = make_spark(
        workspace,
        user,
        file=node,
        mode="replace",
        replaced_text="x = 1\n",
        inserted_text="x = 2\n",
        ttft_ms=120.0,
        finished_at=at(0),
    )
    full = detail.spark_detail(request)
    assert "-x = 1" in full["diff"] and "+x = 2" in full["diff"] and "b/src/main.py" in full["diff"]
    assert [e["kind"] for e in full["events"]] == ["started", "first_token", "done"]


def test_job_detail_lists_events_in_order_and_the_changeset(workspace_with_file, user):
    from workspace.jobs.models import JobEvent

    workspace, node = workspace_with_file
    change = {"path": "src/main.py", "file_id": node.id, "diff": "@@ -1 @@", "status": "modified"}
    job = make_job(workspace, user, run_ms=10, result={"changeset": [{**change, "apply": {"status": "applied"}}]})
    JobEvent.objects.create(job=job, seq=2, kind="tool", message="ran tests")
    JobEvent.objects.create(job=job, seq=1, kind="plan", message="look around")
    full = detail.job_detail(job)
    assert [e["message"] for e in full["events"]] == ["look around", "ran tests"]
    assert full["changeset"][0]["status"] == "modified · applied" and full["outcome"] == "accepted"
    assert full["files"] == ["src/main.py"] and full["diff"] == "@@ -1 @@"


@pytest.mark.parametrize(
    ("apply_states", "outcome"),
    [
        ([None, None], "pending"),
        (["applied", None], "partial"),
        (["applied", "applied"], "accepted"),
        (["applied", "conflict"], "conflict"),
        ([], None),
    ],
)
def test_job_outcome_follows_which_files_were_applied(workspace_with_file, user, apply_states, outcome):
    workspace, _ = workspace_with_file
    entries = [
        {"path": f"f{n}.py", "status": "added", **({"apply": {"status": state}} if state else {})}
        for n, state in enumerate(apply_states)
    ]
    job = make_job(workspace, user, result={"changeset": entries} if entries else {})
    assert sources.job_outcome(job) == outcome
