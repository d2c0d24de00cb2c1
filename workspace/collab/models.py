"""Persisted CRDT state of a file: a compacted snapshot plus an append-only update log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspace.projects.models import FileNode, Workspace


class DocState(models.Model):
    """The compacted snapshot of a file's Yjs document and a plain-text cache of its content."""

    file = models.OneToOneField(FileNode, on_delete=models.CASCADE, primary_key=True, related_name="doc_state")
    snapshot = models.BinaryField(default=b"")
    # Updates with id <= this are folded into `snapshot`.
    last_update_id = models.BigIntegerField(default=0)
    text = models.TextField(default="", blank=True)
    compacted_at = models.DateTimeField(auto_now=True)


class DocUpdate(models.Model):
    """One Yjs update as received, stored before it is fanned out to other clients."""

    file = models.ForeignKey(FileNode, on_delete=models.CASCADE, related_name="doc_updates")
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Whom it was written for (collab.attribution.Author): a plain id, no foreign key, so a keystroke's insert
    # checks nothing more; a deleted user's id simply matches no one.
    author_id = models.IntegerField(null=True, blank=True)
    origin_kind = models.CharField(max_length=8, default="human", db_default="human")
    origin_model = models.CharField(max_length=200, blank=True, default="", db_default="")
    origin_ref = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        indexes = [models.Index(fields=["file", "id"])]


class DocContribution(models.Model):
    """Who wrote a file's updates that compaction folded away: per author, the time of their last one."""

    file = models.ForeignKey(FileNode, on_delete=models.CASCADE, related_name="+")
    author_id = models.IntegerField(null=True, blank=True)
    origin_kind = models.CharField(max_length=8, default="human")
    origin_model = models.CharField(max_length=200, blank=True, default="")
    last_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["file", "last_at"])]


class ServerClientId(models.Model):
    """Yjs client ids for the server's own replicas, from a counter: unique across processes and restarts (two
    live replicas writing with one id would corrupt the document), and small. Yjs places concurrent insertions
    at the same spot in client-id order, so a server-side writer's (a Spark stream's) next piece stays next to its
    previous one even when someone types at that spot meanwhile (browsers' ids are random 32-bit numbers)."""

    id = models.BigAutoField(primary_key=True)


class DocAuthorship(models.Model):
    """Which origin inserted each character of a file's snapshot text (collab.authorship): runs of UTF-8 bytes."""

    file = models.OneToOneField(FileNode, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # The snapshot these credits describe (DocState.last_update_id when they were stored).
    up_to_update_id = models.BigIntegerField(default=0)
    # [author_id, kind, model, ref, epoch seconds] per origin; runs: flat [length, origin index, ...].
    origins = models.JSONField(default=list)
    runs = models.JSONField(default=list)


class DocVersion(models.Model):
    """A file's text at the end of one editing session, kept through compaction (collab.versions)."""

    file = models.ForeignKey(FileNode, on_delete=models.CASCADE, related_name="+")
    # The session's last update: the text is the document as of this update, and this is the version's id.
    up_to_update_id = models.BigIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    # Who took part: [author_id, kind, model, ref] of each origin of the session's updates, in order of appearance.
    participants = models.JSONField(default=list)
    text = models.BinaryField()  # zlib-compressed UTF-8
    # Lines added and deleted against the version before it.
    lines_added = models.IntegerField(default=0)
    lines_deleted = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "up_to_update_id"], name="unique_version_per_update")]
        indexes = [models.Index(fields=["file", "ended_at"])]


class CheckpointContent(models.Model):
    """One distinct content (a text's UTF-8 bytes, or a stored file's bytes), zlib-compressed, stored once however
    many checkpoints and deleted files hold it (collab.checkpoints). Its key is the SHA-256 of the raw bytes, the
    same hash a stored file's blob carries."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    size = models.BigIntegerField()


class CheckpointKind(models.TextChoices):
    MANUAL = "manual", "Named by hand"
    AUTO = "auto", "Automatic"


class Checkpoint(models.Model):
    """Every file of a workspace at one instant: a manual one (named by a user) or an automatic one (with why)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=CheckpointKind.choices)
    name = models.CharField(max_length=200, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "created_at"])]


class CheckpointFile(models.Model):
    """One file of a checkpoint: its path and kind then, and what it held (a shared content row)."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=512)
    kind = models.CharField(max_length=8)
    content = models.ForeignKey(CheckpointContent, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["checkpoint", "path"], name="unique_path_per_checkpoint")]


class DeletedFile(models.Model):
    """A deleted file's tombstone: where it was, what it held, who deleted it; restorable until retention ends."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=512)
    kind = models.CharField(max_length=8)
    content = models.ForeignKey(CheckpointContent, on_delete=models.PROTECT, related_name="+")
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "deleted_at"])]


class ContentMark(models.Model):
    """The content hash a text file's document had when checkpoints last read it, and the state of its stored log
    then (collab.contents): while the log is unchanged, the next checkpoint reuses the hash without loading it."""

    file = models.OneToOneField(FileNode, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # "<DocState.last_update_id>:<log rows>:<newest log row id>": every stored update and every compaction changes it.
    mark = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
