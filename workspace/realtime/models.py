"""Who is connected to which workspace right now (shared across Daphne processes via the DB)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.projects.models import Workspace


class Presence(models.Model):
    channel_name = models.CharField(max_length=200, primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file_id = models.BigIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField(auto_now=True)
