"""Workspace-channel messages of Deep mode: jobs.create / list / get / cancel / apply."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from workspace.jobs import apply, services
from workspace.jobs.models import Job
from workspace.projects.models import Role
from workspace.projects.services import PermissionDenied
from workspace.realtime.handlers import HandlerContext, HandlerError, register


def _call(ctx: HandlerContext, func, *args):
    user = get_user_model().objects.get(id=ctx.user_id)
    try:
        return func(user, *args)
    except (services.JobError, PermissionDenied) as exc:
        raise HandlerError(str(exc)) from exc
    except Job.DoesNotExist as exc:
        raise HandlerError("no such job") from exc


def _job_in_workspace(ctx: HandlerContext, data: dict) -> int:
    try:
        job_id = int(data.get("job_id"))
    except (TypeError, ValueError) as exc:
        raise HandlerError("job_id must be a number") from exc
    if not Job.objects.filter(id=job_id, workspace_id=ctx.workspace_id).exists():
        raise HandlerError("no such job in this workspace")
    return job_id


@register("jobs.create", min_role=Role.EDITOR)
async def create(ctx: HandlerContext, data: dict) -> dict | None:
    def work() -> dict:
        job = _call(ctx, services.create_job, ctx.workspace_id, str(data.get("kind", "")), str(data.get("prompt", "")))
        return {"job": services.events.summary(job)}

    return await database_sync_to_async(work)()


@register("jobs.list", min_role=Role.VIEWER)
async def list_jobs(ctx: HandlerContext, data: dict) -> dict | None:
    return {"jobs": await database_sync_to_async(_call)(ctx, services.list_jobs, ctx.workspace_id)}


@register("jobs.get", min_role=Role.VIEWER)
async def get(ctx: HandlerContext, data: dict) -> dict | None:
    def work() -> dict:
        job = _call(ctx, services.get_job, _job_in_workspace(ctx, data))
        return {"job": services.job_detail(job)}

    return await database_sync_to_async(work)()


@register("jobs.cancel", min_role=Role.EDITOR)
async def cancel(ctx: HandlerContext, data: dict) -> dict | None:
    def work() -> dict:
        job = _call(ctx, services.cancel_job, _job_in_workspace(ctx, data))
        return {"job": services.events.summary(job)}

    return await database_sync_to_async(work)()


@register("jobs.apply", min_role=Role.EDITOR)
async def apply_changes(ctx: HandlerContext, data: dict) -> dict | None:
    paths = data.get("paths")
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
        raise HandlerError("paths must be a list of file paths")

    def work() -> dict:
        return {"files": _call(ctx, apply.apply_changeset, _job_in_workspace(ctx, data), paths)}

    return await database_sync_to_async(work)()
