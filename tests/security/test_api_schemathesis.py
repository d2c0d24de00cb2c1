"""Schemathesis against /api/openapi.json, in process through Django's WSGI handler: every operation, with inputs
generated from the schema (valid and invalid), as the logged-in owner of a workspace that has files, jobs, Spark
requests, members, invitations and chat. No answer may be a 5xx, and documented responses must match the schema.

Path and query ids are drawn most of the time from the objects that exist (the owner's and another workspace's), so
that the operations do more than answer 404.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())

# Parameters (in the path or the query) that name an object, and the kind of object they name.
ID_PARAMETERS = {
    "workspace_id": "workspace",
    "file_id": "file",
    "job_id": "job",
    "request_id": "spark",
    "user_id": "user",
    "invitation_id": "invitation",
    "before_id": "chat",
}


def with_known_ids(data, values: dict | None, ids: dict[str, list[int]]) -> None:
    """Replace, in place and most of the time, generated ids by ids of existing objects (the owner's first)."""
    for name in list(values or {}):
        kind = ID_PARAMETERS.get(name)
        if kind is not None and data.draw(st.sampled_from(["known", "known", "known", "generated"]), label=name):
            values[name] = data.draw(st.sampled_from(ids[kind]), label=f"known {name}")


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_api_operation_answers_a_logged_in_owner_with_a_server_error(case, data, owner_session):
    with_known_ids(data, case.path_parameters, owner_session.ids)
    with_known_ids(data, case.query, owner_session.ids)
    case.call_and_validate(
        cookies=owner_session.cookies,
        headers=owner_session.headers,
        checks=[not_a_server_error, response_schema_conformance],
    )
