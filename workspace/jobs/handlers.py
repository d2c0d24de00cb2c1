"""Workspace-channel messages of Deep mode: jobs.create / list / get / cancel / apply / resolve.

The consumer has checked the sender's role against each type's minimum (`projects.guard`) before a handler runs;
a job id names a job of the socket's workspace or nothing.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from tasks.deep import enqueue
from workspace.jobs import apply, events, resolve, services
from workspace.jobs.models import Job
from workspace.projects.models import Role
from workspace.realtime.handlers import HandlerContext, HandlerError, register


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except services.JobError as exc:
        raise HandlerError(str(exc)) from exc
    except Job.DoesNotExist as exc:  # deleted meanwhile
        raise HandlerError("no such job") from exc


def _job_in_workspace(ctx: HandlerContext, data: dict) -> Job:
    try:
        job_id = int(data.get("job_id"))
    except (TypeError, ValueError) as exc:
        raise HandlerError("job_id must be a number") from exc
    job = Job.objects.select_related("user").filter(id=job_id, workspace_id=ctx.workspace_id).first()
    if job is None:
        raise HandlerError("no such job in this workspace")
    return job


@register("jobs.create", min_role=Role.EDITOR)
async def create(ctx: HandlerContext, data: dict) -> dict | None:
    def work() -> dict:
        user = get_user_model().objects.get(id=ctx.user_id)
        kind, prompt = str(data.get("kind", "")), str(data.get("prompt", ""))
        job = _call(services.create_job, user, ctx.workspace_id, kind, prompt, enqueue=enqueue)
        return {"job": events.summary(job)}

    return await database_sync_to_async(work)()


@register("jobs.list", min_role=Role.VIEWER)
async def list_jobs(ctx: HandlerContext, data: dict) -> dict | None:
    return {"jobs": await database_sync_to_async(services.list_jobs)(ctx.workspace_id)}


@register("jobs.get", min_role=Role.VIEWER)
async def get(ctx: HandlerContext, data: dict) -> dict | None:
    def work() -> dict:
        return {"job": services.job_detail(_job_in_workspace(ctx, data))}

    return await database_sync_to_async(work)()


@register("jobs.cancel", min_role=Role.EDITOR)
async def cancel(ctx: HandlerContext, data: dict) -> dict | None:
    def work() -> dict:
        job = _call(services.cancel_job, _job_in_workspace(ctx, data), ctx.username)
        return {"job": events.summary(job)}

    return await database_sync_to_async(work)()


@register("jobs.apply", min_role=Role.EDITOR)
async def apply_changes(ctx: HandlerContext, data: dict) -> dict | None:
    paths = data.get("paths")
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
        raise HandlerError("paths must be a list of file paths")

    def work() -> dict:
        return {"files": _call(apply.apply_changeset, _job_in_workspace(ctx, data), ctx.username, paths)}

    return await database_sync_to_async(work)()


@register("jobs.resolve", min_role=Role.EDITOR)
async def resolve_conflict(ctx: HandlerContext, data: dict) -> dict | None:
    path, choice, text = data.get("path"), data.get("choice"), data.get("text")
    index = data.get("index")
    if not isinstance(path, str) or not isinstance(choice, str) or not isinstance(index, int):
        raise HandlerError("path, index and choice are required")
    if text is not None and not isinstance(text, str):
        raise HandlerError("text must be a string")

    def work() -> dict:
        job = _job_in_workspace(ctx, data)
        return {"file": _call(resolve.resolve_conflict, job, ctx.username, path, index, choice, text)}

    return await database_sync_to_async(work)()
