"""Run one job in a worker: claim it, snapshot the workspace, do the work, record the result.

A job is claimed with a conditional update (queued -> running, or running with a stale heartbeat ->
running again), so a redelivered or duplicated task message never runs a job twice at once. While it
runs, a watcher thread writes the heartbeat and notices cancellation. Jobs whose worker died are
found by `reap_stale_jobs` (run at worker start and periodically): requeued, or failed with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from workspace.jobs import environment, events, queue, sandbox
from workspace.jobs.agent import AgentReport, JobCancelled, run_agent
from workspace.jobs.changeset import build_changeset
from workspace.jobs.envconfig import EnvironmentFileError
from workspace.jobs.models import Job, JobKind, JobStatus
from workspace.jobs.snapshot import (
    describe_os_error,
    hide_server_paths,
    materialise,
    remove_scratch,
    scratch_dir,
    split_unusable,
    take_snapshot,
)
from workspace.jobs.tools import WorkspaceTools
from workspace.llm import describe_error, resolve
from workspace.projects.models import Workspace

logger = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 0.3


class JobFailed(Exception):
    """A failure with a message fit for the user (no traceback needed)."""


def claim(job_id: int) -> Job | None:
    """Take the job for this worker, or None when it is not runnable (done, cancelled, running elsewhere, or its
    workspace already runs JOB_WORKSPACE_CONCURRENCY jobs: then it waits, queued, for `queue.start_next`)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    runnable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
    candidate = Job.objects.filter(runnable, id=job_id, cancel_requested=False).first()
    if candidate is None:
        return None
    with transaction.atomic():
        # One claim at a time per workspace: the count of running jobs must not change under it.
        Workspace.objects.select_for_update().filter(id=candidate.workspace_id).values_list("id", flat=True).first()
        full = candidate.status == JobStatus.QUEUED and not queue.may_start(candidate)
        if full:
            waiting = Job.objects.filter(id=job_id, status=JobStatus.QUEUED).update(step=queue.WAITING_STEP)
        else:
            claimed = Job.objects.filter(runnable, id=job_id, cancel_requested=False).update(
                status=JobStatus.RUNNING,
                started_at=Coalesce(F("started_at"), now),
                heartbeat_at=now,
                attempts=F("attempts") + 1,
                step="starting",
            )
    if full:
        if waiting:  # told once committed: its card says why it has not started
            candidate.refresh_from_db()
            events.broadcast(candidate.workspace_id, "job.progress", events.progress_payload(candidate))
        return None
    if not claimed:
        return None
    return Job.objects.select_related("user").get(id=job_id)


class Watcher:
    """Heartbeat + cancellation flag for a running job, on its own thread and DB connection."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-watch", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()

    def _run(self) -> None:
        last_beat = 0.0
        try:
            while not self._stop.wait(CANCEL_POLL_SECONDS):
                now = timezone.now()
                if now.timestamp() - last_beat >= settings.JOB_HEARTBEAT_SECONDS:
                    last_beat = now.timestamp()
                    Job.objects.filter(id=self.job_id, status=JobStatus.RUNNING).update(heartbeat_at=now)
                if Job.objects.filter(id=self.job_id, cancel_requested=True).exists():
                    self.cancelled.set()
        except Exception:  # noqa: BLE001 - a broken watcher must not kill the job; the reaper covers it
            logger.exception("watcher of job %s stopped", self.job_id)
        finally:
            connection.close()


def run_job(job_id: int, soft_time_limit: float | None = None, enqueue: Callable[[int], None] | None = None) -> str:
    """Run the job once; returns what happened ("skipped" when another runner has it, it is done, or it waits for a
    slot of its workspace). `enqueue` sends a job's task: the next queued job of the workspace starts when this
    one ends."""
    close_old_connections()
    job = claim(job_id)
    if job is None:
        return "skipped"
    try:
        return _run_claimed(job, soft_time_limit)
    finally:
        if enqueue is not None:
            queue.start_next(job.workspace_id, enqueue)


def _run_claimed(job: Job, soft_time_limit: float | None) -> str:
    if job.attempts > settings.JOB_MAX_ATTEMPTS:
        events.finish(job, JobStatus.FAILED, error=worker_lost_reason(job.attempts - 1))
        return JobStatus.FAILED
    events.record(job, "status", f"running (attempt {job.attempts})", {"status": "running", "attempt": job.attempts})
    events.status_changed(job)
    watcher = Watcher(job.id).start()
    root = scratch_dir(job.id, job.attempts)
    # Secret values never reach the log, result or error of a job.
    redact = environment.Redactor(environment.secret_values(job.workspace_id))
    try:
        status, error, result = _work(job, watcher, root, redact)
    except (JobCancelled, SoftTimeLimitExceeded) as exc:
        if isinstance(exc, SoftTimeLimitExceeded):
            limit = soft_time_limit or settings.JOB_SOFT_TIME_LIMIT
            status, error, result = JobStatus.FAILED, f"time limit of {limit:g} s reached", None
        else:
            status, error, result = JobStatus.CANCELLED, "", None
    except (JobFailed, sandbox.SandboxUnavailable, EnvironmentFileError, environment.SetupFailed) as exc:
        logger.warning("job %s failed: %s", job.id, exc)
        status, error, result = JobStatus.FAILED, str(exc), None
    except Exception as exc:  # noqa: BLE001 - any failure becomes the job's error, shown to the user
        logger.exception("job %s failed", job.id)
        status, error, result = JobStatus.FAILED, _describe(exc, root), None
    finally:
        watcher.stop()
        remove_scratch(root)
    if status != JobStatus.CANCELLED and watcher.is_cancelled():
        status, error = JobStatus.CANCELLED, ""
    # Members see the job's files by their workspace paths, never where this server keeps them.
    events.finish(job, status, error=redact(hide_server_paths(error, root)), result=result)
    return status


def _work(job: Job, watcher: Watcher, root, redact: environment.Redactor) -> tuple[str, str, dict]:
    report = AgentReport(
        event=lambda kind, message, data=None: events.record(job, kind, redact(hide_server_paths(message, root)), data),
        progress=lambda **fields: events.update_progress(job, **fields),
        should_stop=watcher.is_cancelled,
    )
    # Every kind of job may run commands: without a sandbox, fail now with how to enable one.
    sandbox.chosen_backend()
    report.progress(step="snapshot", progress=0.02)
    snapshot, skipped = split_unusable(take_snapshot(job.workspace_id))
    root = materialise(snapshot, root)
    report.event("status", f"snapshot of {len(snapshot)} files taken", {"files": len(snapshot)})
    if skipped:
        report.event(
            "error",
            f"{len(skipped)} file(s) left out of this job, which cannot hold them:\n" + "\n".join(skipped),
            {"skipped": len(skipped)},
        )
    report.progress(step="environment", progress=0.04)
    prepared = environment.prepare(job.workspace_id, snapshot, root, report.event, report.should_stop, redact)
    if job.kind in (JobKind.TESTS, JobKind.LINT):
        return _run_command_job(job, root, report, prepared)
    return _run_agent_job(job, snapshot, root, report, prepared)


def _run_command_job(job: Job, root, report: AgentReport, prepared: environment.PreparedEnvironment):
    command = prepared.project.command_for_job(job.kind) or job.command
    if command != job.command:  # the project's own test or lint command (sparkroom.toml)
        Job.objects.filter(id=job.id).update(command=command)
        job.command = command
    report.progress(step=f"running {command}", progress=0.1)
    report.event("tool_call", f"run_command({command})", {"name": "run_command", "command": command})
    result = sandbox.run_command(command, root, should_stop=report.should_stop, env=prepared.env)
    if result.cancelled:
        raise JobCancelled()
    output = prepared.redact(hide_server_paths(result.output, root))
    report.event(
        "output" if result.ok else "error",
        output or "(no output)",
        {
            "exit_code": result.exit_code,
            "backend": result.backend,
            "timed_out": result.timed_out,
            "limit_reached": result.limit_reached,
        },
    )
    outcome = {"output": output, "exit_code": result.exit_code, "backend": result.backend, "changeset": []}
    if result.ok:
        return JobStatus.SUCCEEDED, "", outcome
    return JobStatus.FAILED, f"`{command}` failed: {result.summary()}", outcome


def _run_agent_job(job: Job, snapshot, root, report: AgentReport, prepared: environment.PreparedEnvironment):
    config = resolve("deep")
    if job.model != config.model:
        Job.objects.filter(id=job.id).update(model=config.model)
        job.model = config.model
    tools = WorkspaceTools(
        root,
        should_stop=report.should_stop,
        env=prepared.env,
        redact=prepared.redact,
        hidden=prepared.project.setup_cache,
    )
    try:
        summary = run_agent(config.client(), config.model, job.prompt, tools, report)
    except (JobCancelled, SoftTimeLimitExceeded, sandbox.SandboxUnavailable):
        raise
    except Exception as exc:  # noqa: BLE001 - SDK/HTTP failures become a sentence for the user
        raise JobFailed(describe_error(exc, config, tokens=job.tokens_out)) from exc
    report.progress(step="building the changeset", progress=0.97)
    changeset = build_changeset(snapshot, root, tools.written, tools.moved_from, tools.deleted)
    report.event(
        "result",
        f"{len(changeset)} file(s) changed" + (f": {', '.join(e['path'] for e in changeset)}" if changeset else ""),
        {"files": [e["path"] for e in changeset]},
    )
    return JobStatus.SUCCEEDED, "", {"changeset": changeset, "summary": prepared.redact(summary)}


def _describe(exc: BaseException, root) -> str:
    """A failure outside the model call (snapshot, scratch copy, sandbox start) as a sentence for members."""
    if isinstance(exc, OSError):
        return f"the job could not run: {describe_os_error(exc, root)}"
    return f"the job stopped on an internal error ({type(exc).__name__}); the worker's log has the details"


def worker_lost_reason(times: int) -> str:
    return f"the worker running this job stopped (killed or crashed) {times} time(s); giving up"


def fail_if_unfinished(job_id: int, reason: str, enqueue: Callable[[int], None] | None = None) -> None:
    """Used when Celery itself gives up on the task (hard time limit); then the workspace's next job may start."""
    job = Job.objects.filter(id=job_id).first()
    if job is not None:
        events.finish(job, JobStatus.FAILED, error=reason)
        if enqueue is not None:
            queue.start_next(job.workspace_id, enqueue)


def reap_stale_jobs(requeue: Callable[[int], None]) -> list[tuple[int, str]]:
    """Find running jobs whose heartbeat stopped; requeue them (via `requeue(job_id)`) or fail them. Then start
    queued jobs that fit in their workspace's free slots."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    outcomes = []
    reaped = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale))
    for job in reaped:
        if job.cancel_requested:
            events.finish(job, JobStatus.CANCELLED, error="")
            outcomes.append((job.id, JobStatus.CANCELLED))
            continue
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            events.finish(job, JobStatus.FAILED, error=worker_lost_reason(job.attempts))
            outcomes.append((job.id, JobStatus.FAILED))
            continue
        requeued = Job.objects.filter(id=job.id, status=JobStatus.RUNNING, heartbeat_at__lt=stale).update(
            status=JobStatus.QUEUED, step="requeued after worker loss"
        )
        if requeued:
            job.refresh_from_db()
            events.record(job, "status", "the worker was lost; requeued", {"status": "queued"})
            events.status_changed(job)
            requeue(job.id)
            outcomes.append((job.id, JobStatus.QUEUED))
    # Slots freed here, or freed without a hand-over (a worker lost between its job's end and `start_next`).
    requeued = {job_id for job_id, outcome in outcomes if outcome == JobStatus.QUEUED}
    for workspace_id in sorted({*queue.waiting_workspaces(), *(j.workspace_id for j in reaped if j.is_finished)}):
        queue.start_next(workspace_id, lambda job_id: job_id in requeued or requeue(job_id))
    return outcomes
