"""Dashboard pages: /history/ (all my workspaces), /history/w/<id>/, and one page per record."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspace.history import detail, query, sources
from workspace.projects import guard
from workspace.projects.models import Membership, Role, Workspace


def _dashboard(request: HttpRequest, workspaces: list[Workspace], scope: str, api_base: str) -> HttpResponse:
    usernames = sorted(
        set(Membership.objects.filter(workspace__in=workspaces).values_list("user__username", flat=True))
    )
    config = {
        "scope": scope,
        "apiBase": api_base,
        "workspaces": [{"id": w.id, "name": w.name} for w in workspaces],
        "users": usernames,
        "modes": list(query.MODE_CHOICES),
        "statuses": sorted(
            {*sources.SPARK_SUCCESS, *sources.JOB_SUCCESS, *sources.IN_PROGRESS, sources.FAILED, sources.CANCELLED}
        ),
    }
    title = workspaces[0].name if scope == "workspace" else "All workspaces"
    return render(request, "history/dashboard.html", {"config": config, "title": title, "workspaces": workspaces})


@login_required
def dashboard_all(request: HttpRequest) -> HttpResponse:
    workspaces = list(Workspace.objects.filter(memberships__user=request.user).order_by("name"))
    return _dashboard(request, workspaces, "all", "/api/history")


@login_required
def dashboard_workspace(request: HttpRequest, workspace_id: int) -> HttpResponse:
    guard.page_role(request, workspace_id, Role.VIEWER)
    workspace = Workspace.objects.get(id=workspace_id)
    return _dashboard(request, [workspace], "workspace", f"/api/history/workspaces/{workspace_id}")


def _detail_page(request: HttpRequest, record, build) -> HttpResponse:
    record = guard.page_record(request, record, Role.VIEWER, missing="not found")
    return render(request, "history/detail.html", {"record": build(record)})


@login_required
def spark_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    return _detail_page(request, detail.find_spark(request_id), detail.spark_detail)


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    return _detail_page(request, detail.find_job(job_id), detail.job_detail)
