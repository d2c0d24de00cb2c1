"""A workspace's own Run command for a language, replacing the built-in one (`run.RUN_COMMANDS`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.projects.models import Workspace


class RunCommand(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="run_commands")
    language = models.CharField(max_length=32)  # a Monaco language id (workspace.projects.languages)
    command = models.CharField(max_length=500)  # "{path}" stands for the file's path, shell-quoted
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "language"], name="one_run_command_per_language")]
