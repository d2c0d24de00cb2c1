"""HTML pages: the workspace list and the editor."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from workspace.projects import guard, services
from workspace.projects.models import Role, Workspace, role_at_least
from workspace.realtime.presence import user_color


@login_required
def home(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        try:
            workspace = services.create_workspace(request.user, request.POST.get("name", ""))
        except services.FileTreeError as exc:
            error = str(exc)
        else:
            return redirect("editor", workspace_id=workspace.id)
    memberships = request.user.memberships.select_related("workspace").order_by("workspace__name")
    return render(request, "projects/home.html", {"memberships": memberships, "error": error})


@login_required
def editor(request: HttpRequest, workspace_id: int) -> HttpResponse:
    role = guard.page_role(request, workspace_id, Role.VIEWER)
    workspace = Workspace.objects.get(id=workspace_id)
    config = {
        "workspace": {"id": workspace.id, "name": workspace.name},
        "user": {"id": request.user.id, "username": request.user.username, "color": user_color(request.user.id)},
        "role": role,
        "canEdit": role_at_least(role, Role.EDITOR),
        "files": services.file_tree(workspace.id),
        "openFileId": request.GET.get("file"),
    }
    return render(request, "projects/editor.html", {"workspace": workspace, "role": role, "config": config})
