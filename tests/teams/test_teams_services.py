"""Invitations, member management and chat storage (services, API and the accept-invite page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.support.helpers import PASSWORD, make_member, make_user
from workspace.projects.models import Membership, Role
from workspace.teams import services
from workspace.teams.models import Invitation

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_invitation_joins_with_its_role_and_counts_the_use(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    created = services.create_invitation(workspace.id, user, Role.VIEWER, days=2, max_uses=2)
    membership = services.accept_invitation(created.token, other_user)
    assert membership.role == Role.VIEWER and membership.workspace_id == workspace.id
    created.invitation.refresh_from_db()
    assert created.invitation.used == 1 and created.invitation.is_usable


def test_only_the_token_hash_is_stored(workspace_with_file, user):
    workspace, _ = workspace_with_file
    created = services.create_invitation(workspace.id, user, Role.EDITOR)
    stored = Invitation.objects.get(id=created.invitation.id)
    assert created.token not in stored.token_hash and stored.token_hash == services.hash_token(created.token)


def test_used_up_expired_and_revoked_links_are_refused(workspace_with_file, user):
    workspace, _ = workspace_with_file
    once = services.create_invitation(workspace.id, user, Role.EDITOR, max_uses=1)
    services.accept_invitation(once.token, make_user("first"))
    with pytest.raises(services.InvitationInvalid, match="already been used"):
        services.accept_invitation(once.token, make_user("second"))
    expired = services.create_invitation(workspace.id, user, Role.EDITOR)
    Invitation.objects.filter(id=expired.invitation.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.InvitationInvalid, match="expired"):
        services.accept_invitation(expired.token, make_user("third"))
    revoked = services.create_invitation(workspace.id, user, Role.EDITOR)
    services.revoke_invitation(workspace.id, revoked.invitation.id)
    with pytest.raises(services.InvitationInvalid, match="revoked"):
        services.accept_invitation(revoked.token, make_user("fourth"))
    with pytest.raises(services.InvitationInvalid, match="not valid"):
        services.find_invitation("made-up-token")


def test_existing_member_keeps_role_and_uses_nothing(workspace_with_file, user):
    workspace, _ = workspace_with_file
    created = services.create_invitation(workspace.id, user, Role.VIEWER)
    assert services.accept_invitation(created.token, user).role == Role.OWNER
    created.invitation.refresh_from_db()
    assert created.invitation.used == 0


@pytest.mark.parametrize(
    ("days", "uses", "role"), [(0, 1, "editor"), (91, 1, "editor"), (1, 0, "editor"), (1, 1, "god")]
)
def test_invitation_limits_are_checked(workspace_with_file, user, days, uses, role):
    workspace, _ = workspace_with_file
    with pytest.raises(services.TeamError):
        services.create_invitation(workspace.id, user, role, days=days, max_uses=uses)


def test_the_last_owner_can_be_neither_demoted_nor_removed(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    with pytest.raises(services.TeamError, match="at least one owner"):
        services.change_role(workspace.id, user.id, Role.EDITOR)
    with pytest.raises(services.TeamError, match="at least one owner"):
        services.remove_member(workspace.id, user.id)
    make_member(workspace, other_user, Role.OWNER)
    services.change_role(workspace.id, user.id, Role.VIEWER)
    services.remove_member(workspace.id, user.id)
    assert not Membership.objects.filter(workspace=workspace, user=user).exists()


def test_chat_history_pages_backwards_oldest_first(workspace_with_file, user):
    workspace, _ = workspace_with_file
    ids = [services.post_chat(workspace.id, user.id, f"m{n}")["id"] for n in range(5)]
    latest = services.chat_history(workspace.id, limit=2)
    assert [m["text"] for m in latest] == ["m3", "m4"]
    older = services.chat_history(workspace.id, before_id=ids[3], limit=2)
    assert [m["text"] for m in older] == ["m1", "m2"]
    with pytest.raises(services.TeamError):
        services.post_chat(workspace.id, user.id, "   ")


def test_owner_creates_invite_over_api_and_gets_the_link_once(workspace_with_file, user):
    workspace, _ = workspace_with_file
    client = logged_in(user)
    response = client.post(
        f"/api/workspaces/{workspace.id}/invitations",
        {"role": "viewer", "days": 3, "max_uses": 5},
        content_type="application/json",
    )
    body = response.json()
    assert response.status_code == 200 and "/teams/invite/" in body["url"] and body["role"] == "viewer"
    listed = client.get(f"/api/workspaces/{workspace.id}/invitations").json()
    assert listed[0]["id"] == body["id"] and "url" not in listed[0]


def test_members_api_changes_role_and_refuses_to_drop_the_last_owner(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    make_member(workspace, other_user, Role.VIEWER)
    client = logged_in(user)
    response = client.patch(
        f"/api/workspaces/{workspace.id}/members/{other_user.id}", {"role": "editor"}, content_type="application/json"
    )
    assert response.json()["role"] == "editor"
    refused = client.delete(f"/api/workspaces/{workspace.id}/members/{user.id}")
    assert refused.status_code == 400 and "owner" in refused.json()["detail"]
    assert client.delete(f"/api/workspaces/{workspace.id}/members/{other_user.id}").status_code == 200
    assert [m["username"] for m in client.get(f"/api/workspaces/{workspace.id}/members").json()] == ["alice"]


def test_accept_page_asks_anonymous_visitors_to_log_in_then_joins(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    created = services.create_invitation(workspace.id, user, Role.EDITOR)
    url = f"/teams/invite/{created.token}/"
    anonymous = Client().get(url)
    assert anonymous.status_code == 200 and b"invite-login" in anonymous.content and b"Demo" in anonymous.content
    client = Client()
    assert client.login(username="bob", password=PASSWORD)
    assert b"accept-invite" in client.get(url).content
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/w/{workspace.id}/"
    assert Membership.objects.get(workspace=workspace, user=other_user).role == Role.EDITOR
    assert Client().get(url).status_code == 410


def test_a_signup_through_the_invite_comes_back_to_the_invite(workspace_with_file, user):
    workspace, _ = workspace_with_file
    created = services.create_invitation(workspace.id, user, Role.EDITOR)
    url = f"/teams/invite/{created.token}/"
    client = Client()
    response = client.post(
        f"/accounts/signup/?next={url}", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == url
    assert client.post(url).status_code == 302
    assert Membership.objects.filter(workspace=workspace, user__username="newbie").exists()
