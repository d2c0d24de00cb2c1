"""Deep-mode jobs: one long task run by a Celery worker, with its ordered event log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.projects.models import Workspace


class JobKind(models.TextChoices):
    AGENT = "agent", "Agent task"
    TESTS = "tests", "Run the tests"
    LINT = "lint", "Lint the workspace"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="jobs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="jobs")
    kind = models.CharField(max_length=10, choices=JobKind.choices, default=JobKind.AGENT)
    prompt = models.TextField(blank=True, default="")
    command = models.CharField(max_length=500, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the running worker every few seconds; a stale one means the worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    error = models.TextField(blank=True, default="")
    progress = models.FloatField(default=0.0)
    step = models.CharField(max_length=200, blank=True, default="")
    # {"changeset": [{path, file_id, base, proposed, diff, status, apply}], "output": str, "exit_code": int|None}
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"job {self.id} ({self.kind}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class JobEvent(models.Model):
    """One entry of a job's log: plan, tool call, output, error, status change."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="unique_job_event_seq")]


class EnvironmentSettings(models.Model):
    """The owner's choices for the workspace's project environment (sparkroom.toml)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="environment_settings")
    # The setup phase (dependency install) may reach the network; commands and the agent never do.
    setup_network = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)


class WorkspaceSecret(models.Model):
    """An environment variable of the workspace's setup phase whose value is never shown back nor logged."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64)
    value = models.TextField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="unique_workspace_secret")]
