"""Spark records: one per request (who asked what, which model answered, how fast, what became of it), one per
completion shown as you type, and the completion switches (per user, per workspace)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.projects.models import FileNode, Workspace


class SparkRequest(models.Model):
    class Mode(models.TextChoices):
        INSERT = "insert"
        REPLACE = "replace"
        CHAT = "chat"
        FORMAT = "format"
        FIX = "fix"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        DONE = "done"
        CANCELLED = "cancelled"
        FAILED = "failed"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="spark_requests")
    file = models.ForeignKey(FileNode, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    model = models.CharField(max_length=200, blank=True, default="")
    base_url = models.CharField(max_length=500, blank=True, default="")
    instruction = models.TextField(blank=True, default="")
    prompt = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STREAMING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    # Sparkroom's own part of the TTFT: request received -> request written to the model, plus first chunk read ->
    # its update handed on.
    ttft_share_ms = models.FloatField(null=True, blank=True)
    tokens = models.IntegerField(default=0)
    tokens_per_second = models.FloatField(null=True, blank=True)
    # Mean / max time from a token reaching Sparkroom to its update being handed to the channel layer.
    overhead_ms = models.FloatField(null=True, blank=True)
    overhead_max_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    retries = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    inserted_text = models.TextField(blank=True, default="")
    replaced_text = models.TextField(blank=True, default="")
    # Channel of the live session (any process can send it cancel/accept/reject); "" once settled.
    session_channel = models.CharField(max_length=200, blank=True, default="")
    # What Reject needs, so that any process can reject, also after a restart (spark.undo.EditRecord.as_json):
    # the Yjs ids of every character the AI inserted, the text it replaced and where that text goes back.
    undo = models.JSONField(default=dict, blank=True)
    # Per-hunk review: the decision taken on each hunk so far ("accepted" / "rejected"; missing: undecided).
    hunks = models.JSONField(default=dict, blank=True)
    # A refinement ("make it simpler") of a pending edit: `parent` is the request it refines, `thread` the first
    # request of the region's thread of instructions (None on that first request itself).
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="refinements")
    thread = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The Deep job this thread was handed over to ("Take this to Deep").
    handover_job_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"spark #{self.pk} {self.mode} {self.status}"

    @property
    def pending(self) -> bool:
        """Text is in the document awaiting Accept or Reject."""
        return self.status in PENDING_STATUSES

    @property
    def thread_id_or_own(self) -> int:
        return self.thread_id or self.id


PENDING_STATUSES = (
    SparkRequest.Status.STREAMING,
    SparkRequest.Status.DONE,
    SparkRequest.Status.CANCELLED,
    SparkRequest.Status.FAILED,
)


class Completion(models.Model):
    """One inline completion (ghost text) asked for while typing, and what the user did with it."""

    class Outcome(models.TextChoices):
        STREAMING = "streaming"  # the model is still answering
        READY = "ready"  # answered; not (yet) reported shown
        SHOWN = "shown"
        ACCEPTED = "accepted"  # Tab: all of it
        PARTIAL = "partial"  # Ctrl+→: some words of it
        DISMISSED = "dismissed"  # shown, then typed over / Esc
        CANCELLED = "cancelled"  # a keystroke came first
        EMPTY = "empty"  # the model had nothing to add
        FAILED = "failed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="spark_completions")
    file = models.ForeignKey(FileNode, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    key = models.CharField(max_length=40, unique=True)
    model = models.CharField(max_length=200, blank=True, default="")
    fim = models.BooleanField(default=False)  # /v1/completions with `suffix` (else a chat prompt)
    cached = models.BooleanField(default=False)  # served from the prefix cache, no model call
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.STREAMING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Keystroke -> first ghost character, measured by the browser.
    latency_ms = models.FloatField(null=True, blank=True)
    # The model's own time to first token, and Sparkroom's share (request received -> request written to the model,
    # plus first chunk read -> first characters sent).
    ttft_ms = models.FloatField(null=True, blank=True)
    server_ms = models.FloatField(null=True, blank=True)
    tokens = models.IntegerField(default=0)
    text = models.TextField(blank=True, default="")
    accepted_chars = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"completion {self.key} {self.outcome}"


class CompletionPreference(models.Model):
    """A user's own on/off switch for completions as you type (absent: the workspace's default)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField()


class WorkspaceSparkSettings(models.Model):
    """Per-workspace Spark defaults, set by an owner."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    completions_default = models.BooleanField(default=True)
