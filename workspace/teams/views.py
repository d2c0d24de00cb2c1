"""The accept-invitation page: /teams/invite/<token>/ (log in or sign up first, then join)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from workspace.projects import guard
from workspace.teams import services


def accept_invite(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.find_invitation(token)
    except services.InvitationInvalid as exc:
        return render(request, "teams/invite.html", {"error": str(exc)}, status=410)
    member = guard.role_of(request.user, invitation.workspace_id) is not None
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.accept_invitation(token, request.user)
        except services.InvitationInvalid as exc:
            return render(request, "teams/invite.html", {"error": str(exc)}, status=410)
        return redirect("editor", workspace_id=membership.workspace_id)
    return render(request, "teams/invite.html", {"invitation": invitation, "already_member": member})
