"""The one role guard: a caller's role in a workspace, the check, and how each edge refuses.

Every edge goes through here: the ninja API (`api_*`: 404 / 403), HTML pages (`page_*`: Http404 /
PermissionDenied) and the workspace channel (`channel_refusal`: the error reply). Whoever is not a member is
answered exactly as if the workspace, or the file, job or Spark request asked for, did not exist, so the ids of
other workspaces reveal nothing; a member whose role is too low is refused as such.

Object-level checks take the record the edge looked up (anything with a `workspace_id`, or None when there is
none), so this module needs no model of the apps above it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied as PageForbidden
from django.http import Http404, HttpRequest
from ninja.errors import HttpError

from workspace.projects.models import FileNode, Membership, role_at_least

# Ids are 64-bit columns; a larger number names nothing (and SQLite cannot even bind it in a foreign-key lookup).
MAX_ID = 2**63 - 1
WORKSPACE_NOT_FOUND = "workspace not found"
FILE_NOT_FOUND = "file not found"


class Refused(Exception):
    """The caller may not do this; the message is for the user."""


class NotFound(Refused):
    """Not a member (or nothing there): told exactly as a missing workspace or record."""


class Forbidden(Refused):
    """A member whose role is below what the action needs."""


class InWorkspace(Protocol):
    workspace_id: int


Record = TypeVar("Record", bound=InWorkspace)


def role_of(user: AbstractBaseUser | None, workspace_id: int) -> str | None:
    """The user's role in the workspace, or None when not a member (or anonymous)."""
    if user is None or not user.is_authenticated or not 0 < workspace_id <= MAX_ID:
        return None
    return Membership.objects.filter(workspace_id=workspace_id, user=user).values_list("role", flat=True).first()


def require_role(
    user: AbstractBaseUser | None, workspace_id: int, minimum: str, *, missing: str = WORKSPACE_NOT_FOUND
) -> str:
    """The user's role, when at least `minimum`; NotFound(`missing`) for non-members, Forbidden when too low."""
    role = role_of(user, workspace_id)
    if role is None:
        raise NotFound(missing)
    if not role_at_least(role, minimum):
        raise Forbidden(f"needs the {minimum} role in this workspace")
    return role


def require_record(user: AbstractBaseUser | None, record: Record | None, minimum: str, *, missing: str) -> Record:
    """`record` (None: there is none), when the user holds at least `minimum` in its workspace.

    A record of a workspace the user is not in raises the same NotFound(`missing`) as one that does not exist.
    """
    if record is None:
        raise NotFound(missing)
    require_role(user, record.workspace_id, minimum, missing=missing)
    return record


def require_file(user: AbstractBaseUser | None, file_id: int, minimum: str) -> FileNode:
    """The file or folder `file_id` of a workspace where the user holds at least `minimum`."""
    return require_record(user, FileNode.objects.filter(id=file_id).first(), minimum, missing=FILE_NOT_FOUND)


# The ninja API: 404 for non-members and missing records, 403 for a role too low ------------------------------
@contextmanager
def api_refusals() -> Iterator[None]:
    """Turn the guard's refusals raised inside into the API's HttpError."""
    try:
        yield
    except NotFound as exc:
        raise HttpError(404, str(exc)) from exc
    except Forbidden as exc:
        raise HttpError(403, str(exc)) from exc


def api_role(request: HttpRequest, workspace_id: int, minimum: str) -> str:
    with api_refusals():
        return require_role(request.user, workspace_id, minimum)


def api_record(request: HttpRequest, record: Record | None, minimum: str, *, missing: str) -> Record:
    with api_refusals():
        return require_record(request.user, record, minimum, missing=missing)


def api_file(request: HttpRequest, file_id: int, minimum: str) -> FileNode:
    with api_refusals():
        return require_file(request.user, file_id, minimum)


# HTML pages (the views are @login_required): Http404 and Django's PermissionDenied (403) --------------------
@contextmanager
def page_refusals() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except Forbidden as exc:
        raise PageForbidden(str(exc)) from exc


def page_role(request: HttpRequest, workspace_id: int, minimum: str) -> str:
    with page_refusals():
        return require_role(request.user, workspace_id, minimum)


def page_record(request: HttpRequest, record: Record | None, minimum: str, *, missing: str) -> Record:
    with page_refusals():
        return require_record(request.user, record, minimum, missing=missing)


# The workspace channel: the sender's role is re-read before every message -----------------------------------
def channel_refusal(kind: str, role: str | None, minimum: str) -> dict | None:
    """What the error reply refusing a `kind` message to a sender holding `role` says, or None when the role is
    enough. A sender whose role is None is no longer a member: the edge also closes the socket."""
    if role_at_least(role, minimum):
        return None
    return {"code": "forbidden", "message": f"{kind} needs the {minimum} role"}
