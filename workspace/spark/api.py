"""Spark JSON API: what model each mode uses, the request records of a workspace, and the switches of completions
as you type (the user's own, the workspace's default)."""

from __future__ import annotations

from django.conf import settings
from ninja import Router, Schema

from workspace import llm
from workspace.projects import guard
from workspace.projects.models import Role
from workspace.spark import completions, services
from workspace.spark.models import SparkRequest

router = Router(tags=["spark"])
PREFIX = "/spark"


@router.get("/providers")
def provider_status(request):
    """Configuration of the Spark and Deep endpoints (never the API keys)."""
    return [llm.resolve(mode).public() for mode in llm.MODES]


@router.get("/requests")
def list_requests(request, workspace_id: int, limit: int = 50):
    guard.api_role(request, workspace_id, Role.VIEWER)
    rows = SparkRequest.objects.filter(workspace_id=workspace_id)[: max(1, min(limit, 200))]
    return [services.as_dict(row) for row in rows]


@router.get("/requests/{request_id}")
def get_request(request, request_id: int):
    row = SparkRequest.objects.filter(id=request_id).first()
    row = guard.api_record(request, row, Role.VIEWER, missing="no such Spark request")
    data = services.as_dict(row)
    data["prompt"] = row.prompt
    data["flush_interval_ms"] = settings.SPARK_FLUSH_INTERVAL_MS
    return data


class CompletionChoice(Schema):
    enabled: bool | None = None  # None: follow the workspace's default


class WorkspaceDefault(Schema):
    default: bool


def _completion_settings(user_id: int, workspace_id: int) -> dict:
    config = llm.resolve("spark")
    fim = config.fim
    if fim == "auto" and config.configured:
        detected = completions.detected_fim(config)
        fim = "auto (not probed yet)" if detected is None else f"auto ({'supported' if detected else 'chat prompt'})"
    return completions.completion_settings(user_id, workspace_id, config.configured, fim)


@router.get("/completions")
def completion_settings(request, workspace_id: int):
    """Whether completions as you type are on for you in this workspace, and why."""
    guard.api_role(request, workspace_id, Role.VIEWER)
    return _completion_settings(request.user.id, workspace_id)


@router.put("/completions")
def set_completion_choice(request, body: CompletionChoice):
    """Your own on/off switch (null: follow each workspace's default)."""
    completions.set_user_choice(request.user.id, body.enabled)
    return {"user_choice": body.enabled}


@router.put("/workspaces/{workspace_id}/completions")
def set_workspace_completions(request, workspace_id: int, body: WorkspaceDefault):
    """The workspace's default for members who did not choose (owners only)."""
    guard.api_role(request, workspace_id, Role.OWNER)
    completions.set_workspace_default(workspace_id, body.default)
    return _completion_settings(request.user.id, workspace_id)
