"""Spark JSON API: what model each mode uses, and the request records of a workspace."""

from __future__ import annotations

from django.conf import settings
from ninja import Router

from workspace import llm
from workspace.projects import guard
from workspace.projects.models import Role
from workspace.spark import services
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
