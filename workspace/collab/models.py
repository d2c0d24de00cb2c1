"""Persisted CRDT state of a file: a compacted snapshot plus an append-only update log."""

from __future__ import annotations

from django.db import models

from workspace.projects.models import FileNode


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

    class Meta:
        indexes = [models.Index(fields=["file", "id"])]


class ServerClientId(models.Model):
    """Yjs client ids for the server's own replicas, from a counter: unique across processes and restarts (two
    live replicas writing with one id would corrupt the document), and small. Yjs places concurrent insertions
    at the same spot in client-id order, so a server-side writer's (a Spark stream's) next piece stays next to its
    previous one even when someone types at that spot meanwhile (browsers' ids are random 32-bit numbers)."""

    id = models.BigAutoField(primary_key=True)
