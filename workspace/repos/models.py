"""Imports (archive, folder or git clone), the repository a clone keeps, and stored files (blobs)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models

from workspace.projects.models import FileNode, Workspace


class Blob(models.Model):
    """The bytes of a stored file (FileNode.kind binary or readonly), immutable, in the database.

    In the database rather than a file store: a blob is created, renamed and deleted in the same transaction as
    its FileNode (an import's batch is all or nothing, a deleted file takes its bytes along), an export reads
    blobs and live documents in one snapshot, and every process reaches them through the one service all
    processes already share. Their size is bounded by REPOS_MAX_FILE_BYTES.
    """

    file = models.OneToOneField(FileNode, on_delete=models.CASCADE, primary_key=True, related_name="blob")
    data = models.BinaryField()
    sha256 = models.CharField(max_length=64)


class ImportSource(models.TextChoices):
    ARCHIVE = "archive", "Archive or folder upload"
    GIT = "git", "Git clone"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED_IMPORT_STATUSES = (ImportStatus.SUCCEEDED, ImportStatus.FAILED)


class ImportJob(models.Model):
    """One import into a workspace, run by a Celery worker (`repos.import`), reporting through this row."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="imports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    source = models.CharField(max_length=8, choices=ImportSource.choices)
    # What the user chose: the archive's file name, or the git URL.
    name = models.CharField(max_length=1000)
    # Folder of the workspace to import into ("" = its root).
    into = models.CharField(max_length=512, blank=True, default="")
    # Git: the branch or tag ("" = the remote's default branch), shallow or full history, the deploy key (SSH,
    # kept only until the import ends, then on the Repository; never sent back).
    ref = models.CharField(max_length=255, blank=True, default="")
    shallow = models.BooleanField(default=True)
    deploy_key = models.TextField(blank=True, default="")
    # Archive: the uploaded file under REPOS_DATA_DIR/uploads (removed when the import ends).
    upload = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    step = models.CharField(max_length=200, blank=True, default="queued")
    progress = models.FloatField(default=0.0)
    files_total = models.IntegerField(default=0)
    files_done = models.IntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    # {"imported": n, "text": n, "binary": n, "readonly": n, "folders": n, "skipped": [{path, reason}],
    #  "skipped_count": n}
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # Ids of the nodes this import created so far: removed again if it fails.
    created_ids = models.JSONField(default=list, blank=True)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_IMPORT_STATUSES


class Repository(models.Model):
    """The git repository of a workspace (cloned, or initialised from the UI): a bare repository on the server
    (`path`), without a work tree: the live documents are its work tree (see repos.working).

    `head_commit` is the commit the live files were last in step with (imported, committed, pulled or
    switched to; "" before a first commit); `synced_at` when the live files were last committed (or imported,
    or switched): who wrote to files since then is whom a commit names as co-authors (a pull leaves it).
    `root`: the workspace folder the repository's tree maps to ("" = all).
    """

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="repository")
    remote_url = models.CharField(max_length=1000, blank=True, default="")
    # The branch or tag cloned (the remote's default branch when none was named).
    branch = models.CharField(max_length=255)
    head_commit = models.CharField(max_length=64, blank=True, default="")
    root = models.CharField(max_length=512, blank=True, default="")
    synced_at = models.DateTimeField(null=True, blank=True)
    shallow = models.BooleanField(default=True)
    # An SSH deploy key pasted by the owner: used through a temporary 0600 file, never shown back.
    deploy_key = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def path(self) -> Path:
        return repository_path(self.workspace_id)

    @property
    def known_hosts(self) -> Path:
        return known_hosts_path(self.workspace_id)


def repository_path(workspace_id: int) -> Path:
    return Path(settings.REPOS_DATA_DIR) / "workspaces" / f"{workspace_id}.git"


def known_hosts_path(workspace_id: int) -> Path:
    return Path(settings.REPOS_DATA_DIR) / "known_hosts" / str(workspace_id)


class GitOperationKind(models.TextChoices):
    PUSH = "push", "Push"
    PULL = "pull", "Pull"


class GitOperation(models.Model):
    """One push or pull of a workspace's repository, run by a Celery worker (`repos.git`), reporting through
    this row and the workspace channel ("git.progress", "git.finished")."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="git_operations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=4, choices=GitOperationKind.choices)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    step = models.CharField(max_length=200, blank=True, default="queued")
    progress = models.FloatField(default=0.0)
    # Pull: {"commit", "files": [{path, status, conflicts}], "up_to_date"}; push: {"commit"}.
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class BranchSwitch(models.Model):
    """One switch of a workspace's live files to another branch, kept so that it can be undone (repos.branches):
    the live state before it of every file it changed, by workspace path — {"text": sha} (a document's exact text,
    UTF-8, as a blob written into the bare repository: usually one it holds already, the files were as committed),
    {"blob": sha} (a stored file's bytes, the same way), or {"absent": true} (a file the switch created). The blobs
    are not referenced by any commit: they last while the repository is not garbage-collected by hand (Sparkroom
    never runs gc)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="branch_switches")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    from_branch = models.CharField(max_length=255)
    from_commit = models.CharField(max_length=64, blank=True, default="")
    to_branch = models.CharField(max_length=255)
    to_commit = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["-id"]
