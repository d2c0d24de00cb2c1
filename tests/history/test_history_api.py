"""History JSON API and pages: scoping to the caller's workspaces, filters, details, exports, OpenAPI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from tests.support.helpers import make_member, make_user
from tests.support.history_data import at, make_job, make_spark
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_workspaces(workspace_with_file, user, other_user):
    mine, node = workspace_with_file
    theirs = create_workspace(other_user, "Theirs")
    records = {
        "mine_spark": make_spark(mine, user, file=node, prompt="=HYPERLINK(1)", created_at=at(1)),
        "mine_job": make_job(mine, user, prompt="add tests"),
        "their_spark": make_spark(theirs, other_user, prompt="their secret"),
    }
    return mine, theirs, records


def test_all_workspaces_list_holds_only_my_workspaces(two_workspaces, user):
    mine, _, r = two_workspaces
    body = logged_in(user).get("/api/history").json()
    assert {(i["kind"], i["id"]) for i in body["items"]} == {("spark", r["mine_spark"].id), ("job", r["mine_job"].id)}
    assert body["total"] == 2 and body["page"] == 1


def test_joining_a_workspace_adds_its_history(two_workspaces, user):
    _, theirs, r = two_workspaces
    make_member(theirs, user, "viewer")
    ids = {(i["kind"], i["id"]) for i in logged_in(user).get("/api/history").json()["items"]}
    assert ("spark", r["their_spark"].id) in ids


def test_workspace_list_applies_query_filters_and_page_size(two_workspaces, user):
    mine, _, r = two_workspaces
    client = logged_in(user)
    body = client.get(f"/api/history/workspaces/{mine.id}", {"mode": "deep", "q": "TESTS"}).json()
    assert [(i["kind"], i["id"]) for i in body["items"]] == [("job", r["mine_job"].id)]
    paged = client.get(f"/api/history/workspaces/{mine.id}", {"page_size": 1, "page": 2}).json()
    assert paged["pages"] == 2 and [i["id"] for i in paged["items"]] == [r["mine_spark"].id]


def test_invalid_filter_is_a_400_with_the_reason(two_workspaces, user):
    mine, _, _ = two_workspaces
    response = logged_in(user).get(f"/api/history/workspaces/{mine.id}", {"mode": "nope"})
    assert response.status_code == 400 and "Unknown mode" in response.json()["detail"]
    assert logged_in(user).get("/api/history", {"date_from": "not-a-date"}).status_code == 422


def test_another_workspaces_history_and_records_are_404(two_workspaces, user):
    _, theirs, r = two_workspaces
    client = logged_in(user)
    assert client.get(f"/api/history/workspaces/{theirs.id}").status_code == 404
    assert client.get(f"/api/history/workspaces/{theirs.id}/stats").status_code == 404
    assert client.get(f"/api/history/spark/{r['their_spark'].id}").status_code == 404
    assert client.get(f"/history/spark/{r['their_spark'].id}/").status_code == 404
    assert client.get(f"/history/w/{theirs.id}/").status_code == 404


def test_detail_endpoint_and_page_show_prompt_and_events(two_workspaces, user):
    _, _, r = two_workspaces
    client = logged_in(user)
    body = client.get(f"/api/history/jobs/{r['mine_job'].id}").json()
    assert body["prompt"] == "add tests" and body["events"] == [] and body["kind"] == "job"
    page = client.get(f"/history/spark/{r['mine_spark'].id}/")
    assert page.status_code == 200 and b"=HYPERLINK(1)" in page.content


def test_csv_export_has_header_rows_and_neutralises_formulas(two_workspaces, user):
    mine, _, r = two_workspaces
    response = logged_in(user).get(f"/api/history/workspaces/{mine.id}/export", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["id"] for row in rows] == [str(r["mine_job"].id), str(r["mine_spark"].id)]
    assert rows[1]["prompt"] == "'=HYPERLINK(1)" and rows[1]["files"] == "src/main.py"


def test_json_export_of_all_workspaces(two_workspaces, user):
    response = logged_in(user).get("/api/history/export", {"format": "json", "mode": "spark"})
    data = json.loads(response.content)
    assert [d["prompt"] for d in data] == ["=HYPERLINK(1)"]


def test_stats_endpoint_returns_chart_data(two_workspaces, user):
    body = logged_in(user).get("/api/history/stats").json()
    assert body["records"] == 2 and body["success"]["spark"]["succeeded"] == 1


def test_history_is_in_the_openapi_schema(user):
    paths = logged_in(user).get("/api/openapi.json").json()["paths"]
    assert "/api/history" in paths and "/api/history/jobs/{job_id}" in paths
    params = {p["name"] for p in paths["/api/history"]["get"]["parameters"]}
    assert {"mode", "status", "user", "date_from", "date_to", "q", "page", "page_size"} <= params
    stats_schema = paths["/api/history/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert stats_schema["$ref"].endswith("/HistoryStats")


def test_dashboard_pages_render_for_members_and_redirect_anonymous(two_workspaces, user):
    mine, _, _ = two_workspaces
    viewer = make_user("vera")
    make_member(mine, viewer, "viewer")
    page = logged_in(viewer).get(f"/history/w/{mine.id}/")
    assert page.status_code == 200 and b"history-config" in page.content
    assert logged_in(user).get("/history/").status_code == 200
    assert Client().get("/history/").status_code == 302
