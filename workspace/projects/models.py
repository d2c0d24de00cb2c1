"""Workspaces, their members (with roles) and their file tree."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


def role_at_least(role: str | None, minimum: str) -> bool:
    """True when `role` grants at least the rights of `minimum`."""
    return role is not None and ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]


class Workspace(models.Model):
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class FileKind(models.TextChoices):
    """What a file holds. Only text files are live CRDT documents; the others are stored bytes (a blob)."""

    TEXT = "text", "Text (live document)"
    BINARY = "binary", "Binary (stored as is)"
    READONLY = "readonly", "Text too large to edit live (stored read-only)"


class FileNode(models.Model):
    """A file or folder. `path` is the full slash-separated path inside the workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=512)
    is_folder = models.BooleanField(default=False)
    kind = models.CharField(max_length=8, choices=FileKind.choices, default=FileKind.TEXT)
    # Bytes of a stored (binary or read-only) file; None for folders and live text documents.
    size = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "path"], name="unique_path_per_workspace")]
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_live_text(self) -> bool:
        return not self.is_folder and self.kind == FileKind.TEXT

    @property
    def language(self) -> str:
        from workspace.projects.languages import language_for_path

        return language_for_path(self.path)
