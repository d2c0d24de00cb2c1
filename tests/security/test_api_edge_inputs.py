"""Inputs that made the JSON API answer 500 (found by schemathesis and by probing around what it found): each is now
refused with a 4xx, on PostgreSQL and on SQLite."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

HUGE = 10**20  # beyond 64-bit integers
ANY_CLIENT_ERROR = range(400, 500)

CASES = {
    # PostgreSQL text cannot hold NUL: the query failed in the database.
    "nul-in-history-status": ("get", "/api/history?status=%00", None, 400),
    "nul-in-history-search": ("get", "/api/history?q=a%00b", None, 400),
    "nul-in-history-user": ("get", "/api/history?user=%00", None, 400),
    "nul-in-stats-search": ("get", "/api/history/stats?q=%00", None, 400),
    "nul-in-export-search": ("get", "/api/history/export?q=%00&format=json", None, 400),
    "nul-in-workspace-name": ("post", "/api/workspaces", {"name": "a\x00b"}, 400),
    "nul-in-agent-prompt": ("post", "/api/workspaces/{workspace}/jobs", {"kind": "agent", "prompt": "a\x00b"}, 400),
    "nul-in-tests-prompt": ("post", "/api/workspaces/{workspace}/jobs", {"kind": "tests", "prompt": "\x00"}, 400),
    # A lone surrogate (JSON "\ud800") cannot be encoded for either database.
    "surrogate-in-path": ("post", "/api/workspaces/{workspace}/files", {"path": "\ud800.py"}, 400),
    "surrogate-in-content": ("post", "/api/workspaces/{workspace}/files", {"path": "s.py", "content": "\ud800"}, 400),
    "surrogate-in-workspace-name": ("post", "/api/workspaces", {"name": "\ud800"}, 400),
    "surrogate-in-prompt": ("post", "/api/workspaces/{workspace}/jobs", {"kind": "agent", "prompt": "\udfff"}, 400),
    # The page's offset overflowed the database's integers.
    "huge-history-page": ("get", f"/api/history?page={HUGE}", None, 422),
    "int64-history-page": ("get", f"/api/history?page={2**62}", None, 422),
    # The day after date_to is past date.max.
    "last-date-history": ("get", "/api/history?date_to=9999-12-31", None, 422),
    "last-date-stats": ("get", "/api/history/stats?date_to=9999-12-31", None, 422),
    "last-date-export": ("get", "/api/history/export?date_to=9999-12-31", None, 422),
    # SQLite cannot bind an integer beyond 64 bits (a 400 there; PostgreSQL finds nothing: 404, or 400 from the rule).
    "huge-spark-workspace": ("get", f"/api/spark/requests?workspace_id={HUGE}", None, ANY_CLIENT_ERROR),
    "huge-member-id": ("patch", f"/api/workspaces/{{workspace}}/members/{HUGE}", {"role": "viewer"}, ANY_CLIENT_ERROR),
    "huge-workspace-id": ("get", f"/api/workspaces/{HUGE}/files", None, ANY_CLIENT_ERROR),
}


@pytest.mark.parametrize(("method", "url", "body", "status"), CASES.values(), ids=CASES.keys())
def test_input_that_made_the_api_fail_is_refused_with_a_client_error(owner_session, method, url, body, status):
    client = Client()
    client.cookies.load(owner_session.cookies)
    url = url.format(workspace=owner_session.ids["workspace"][0])
    kwargs = {"headers": owner_session.headers}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    response = getattr(client, method)(url, **kwargs)
    expected = status if isinstance(status, range) else [status]
    assert response.status_code in expected, response.content[:300]


def test_ordinary_non_ascii_text_is_still_accepted(owner_session):
    client = Client()
    client.cookies.load(owner_session.cookies)
    response = client.post(
        "/api/workspaces", {"name": "Café ☕ 東京"}, content_type="application/json", headers=owner_session.headers
    )
    assert response.status_code == 200 and response.json()["name"] == "Café ☕ 東京"
    found = client.get("/api/history?q=caf%C3%A9", headers=owner_session.headers)
    assert found.status_code == 200
