"""Reviews of AI-written text (a person vouching for what one model request wrote in a file, up to a time) and
restores of earlier versions into live files."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.projects.models import FileNode


class AiReview(models.Model):
    """What the origin (kind, model, ref: e.g. one Spark request) wrote in this file up to `reviewed_at` counts as
    reviewed. Keyed by origin, not by line numbers, so it stays right while others keep editing."""

    file = models.ForeignKey(FileNode, on_delete=models.CASCADE, related_name="+")
    origin_kind = models.CharField(max_length=8)
    origin_model = models.CharField(max_length=200, blank=True, default="")
    origin_ref = models.CharField(max_length=64, blank=True, default="")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reviewed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["file", "origin_kind", "origin_ref"])]


class FileRestore(models.Model):
    """A version (or some of its hunks) restored into a live file: what undoing it needs (the texts before and after,
    zlib-compressed), and whether it was undone."""

    file = models.ForeignKey(FileNode, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    version_id = models.BigIntegerField()  # the version's id (the update it ends with)
    hunks = models.JSONField(null=True, blank=True)  # the hunks restored; None: the whole version
    created_at = models.DateTimeField(auto_now_add=True)
    text_before = models.BinaryField(default=b"")
    text_after = models.BinaryField(default=b"")
    conflicts = models.IntegerField(default=0)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
