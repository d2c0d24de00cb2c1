"""The one role guard (workspace/projects/guard.py): how each edge is told no. Every endpoint, page and message
type is tried against it in tests/projects/test_authz_matrix.py; these pin down the guard's own contract."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from ninja.errors import HttpError

from tests.support.helpers import make_member, make_user
from workspace.projects import guard
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def request_of(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.fixture
def two_workspaces():
    me, stranger = make_user("me"), make_user("stranger")
    mine = create_workspace(make_user("owner"), "mine")
    make_member(mine, me, Role.VIEWER)
    theirs = create_workspace(stranger, "theirs")
    return me, mine, theirs


def test_a_record_of_another_workspace_is_refused_exactly_as_no_record(two_workspaces):
    me, _, theirs = two_workspaces
    their_file = theirs.files.get()
    with pytest.raises(guard.NotFound) as of_theirs:
        guard.require_record(me, their_file, Role.VIEWER, missing="file not found")
    with pytest.raises(guard.NotFound) as of_nothing:
        guard.require_record(me, None, Role.VIEWER, missing="file not found")
    assert str(of_theirs.value) == str(of_nothing.value) == "file not found"
    with pytest.raises(HttpError) as api_theirs:
        guard.api_file(request_of(me), their_file.id, Role.VIEWER)
    with pytest.raises(HttpError) as api_nothing:
        guard.api_file(request_of(me), 987_654_321, Role.VIEWER)
    assert (api_theirs.value.status_code, str(api_theirs.value)) == (404, "file not found")
    assert (api_nothing.value.status_code, str(api_nothing.value)) == (404, "file not found")


def test_a_member_below_the_minimum_is_forbidden_on_every_edge(two_workspaces):
    me, mine, _ = two_workspaces
    assert guard.require_role(me, mine.id, Role.VIEWER) == Role.VIEWER
    with pytest.raises(guard.Forbidden, match="needs the editor role in this workspace"):
        guard.require_role(me, mine.id, Role.EDITOR)
    with pytest.raises(HttpError) as api:
        guard.api_record(request_of(me), mine.files.get(), Role.EDITOR, missing="file not found")
    assert api.value.status_code == 403
    with pytest.raises(PermissionDenied):
        guard.page_role(request_of(me), mine.id, Role.EDITOR)
    assert guard.channel_refusal("jobs.create", Role.VIEWER, Role.EDITOR) == {
        "code": "forbidden",
        "message": "jobs.create needs the editor role",
    }
    assert guard.channel_refusal("jobs.list", Role.VIEWER, Role.VIEWER) is None


def test_non_members_anonymous_users_and_impossible_ids_have_no_role(two_workspaces):
    me, _, theirs = two_workspaces
    assert guard.role_of(me, theirs.id) is None
    assert guard.role_of(AnonymousUser(), theirs.id) is None
    assert guard.role_of(me, 2**63 + 5) is None
    with pytest.raises(Http404, match="workspace not found"):
        guard.page_role(request_of(me), theirs.id, Role.VIEWER)
    assert guard.channel_refusal("chat.send", None, Role.VIEWER) is not None
