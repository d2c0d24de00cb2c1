"""One record per Spark request: who asked what, which model answered, how fast, and what became of it."""

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

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"spark #{self.pk} {self.mode} {self.status}"

    @property
    def pending(self) -> bool:
        """Text is in the document awaiting Accept or Reject."""
        return self.status in (self.Status.STREAMING, self.Status.DONE, self.Status.CANCELLED, self.Status.FAILED)
