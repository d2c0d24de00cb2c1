"""Role checks for HTTP edges: non-members get 404 so ids of other workspaces reveal nothing."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja.errors import HttpError

from workspace.projects.models import role_at_least
from workspace.projects.services import role_of


def api_require_role(request: HttpRequest, workspace_id: int, minimum: str) -> str:
    """The caller's role, or HttpError 404 (not a member) / 403 (role too low)."""
    role = role_of(request.user, workspace_id)
    if role is None:
        raise HttpError(404, "workspace not found")
    if not role_at_least(role, minimum):
        raise HttpError(403, f"needs the {minimum} role in this workspace")
    return role


def page_require_role(request: HttpRequest, workspace_id: int, minimum: str) -> str:
    """Like api_require_role for HTML views (the view itself is @login_required)."""
    from django.core.exceptions import PermissionDenied

    role = role_of(request.user, workspace_id)
    if role is None:
        raise Http404("workspace not found")
    if not role_at_least(role, minimum):
        raise PermissionDenied(f"needs the {minimum} role in this workspace")
    return role
