"""Apply a job's changeset to the live documents: a three-way merge per file, written as CRDT edits.

base = the file when the job started, ours = the live document now, theirs = the job's version. Edits
members made during the job are kept; conflicting hunks keep the live text and are reported.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from workspace.collab import checkpoints, store, tombstones
from workspace.collab.attribution import DEEP, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.merge import merge_into_file
from workspace.jobs import events
from workspace.jobs.models import Job, JobStatus
from workspace.jobs.services import JobError
from workspace.projects.models import FileNode
from workspace.projects.services import FileTreeError, notify_tree_changed, rename_file


def _conflict(message: str) -> dict:
    return {"status": "conflict", "conflicts": [], "message": message}


def _apply_deletion(node: FileNode | None, entry: dict, author: Author) -> dict:
    """Delete the file, unless a member changed it meanwhile (their text would go with it)."""
    if node is None:
        return {"status": "applied", "conflicts": [], "message": "the file was already deleted"}
    if store.load_text(node.id) != entry["base"]:
        return _conflict("the file was edited while the job ran: delete it from the file tree to drop those edits")
    workspace_id = node.workspace_id
    tombstones.delete_file(node, author.user_id)
    notify_tree_changed(workspace_id)
    return {"status": "applied", "conflicts": []}


def _apply_entry(job: Job, entry: dict) -> dict:
    origin = f"job:{job.id}"
    author = Author(job.user_id, DEEP, job.model, str(job.id))
    node = None
    if entry.get("status") == "deleted":
        found = FileNode.objects.filter(id=entry["file_id"], workspace_id=job.workspace_id, is_folder=False).first()
        return _apply_deletion(found, entry, author)
    if entry.get("file_id"):
        node = FileNode.objects.filter(id=entry["file_id"], workspace_id=job.workspace_id, is_folder=False).first()
        if node is None:
            return _conflict("the file was deleted while the job ran")
        if entry.get("status") == "renamed" and node.path != entry["path"]:
            try:
                node = rename_file(node, entry["path"])
            except FileTreeError as exc:
                return _conflict(str(exc))
            notify_tree_changed(job.workspace_id)
    else:
        node = FileNode.objects.filter(workspace_id=job.workspace_id, path=entry["path"]).first()
        if node is not None and node.is_folder:
            return {"status": "conflict", "conflicts": [], "message": f"{entry['path']} is now a folder"}
    if node is None:
        try:
            node = create_file_with_text(job.workspace, entry["path"], entry["proposed"], author=author)
        except FileTreeError as exc:
            return {"status": "conflict", "conflicts": [], "message": str(exc)}
        notify_tree_changed(job.workspace_id)
        return {"status": "applied", "conflicts": [], "file_id": node.id}
    conflicts = merge_into_file(node.id, entry["base"], entry["proposed"], origin, author)
    return {"status": "conflict" if conflicts else "applied", "conflicts": conflicts, "file_id": node.id}


def _claim_entries(job_id: int, paths: list[str] | None) -> list[dict]:
    """Mark the entries to apply as "applying" so a concurrent apply request skips them."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(id=job_id)
        changeset = (job.result or {}).get("changeset") or []
        unknown = sorted(set(paths or []) - {entry["path"] for entry in changeset})
        if unknown:
            raise JobError(f"Not in this job's changeset: {', '.join(unknown)}")
        chosen = [e for e in changeset if (paths is None or e["path"] in paths) and not e.get("apply")]
        for entry in chosen:
            entry["apply"] = {"status": "applying"}
        Job.objects.filter(id=job.id).update(result={**job.result, "changeset": changeset})
    return chosen


def _store_outcome(job_id: int, path: str, outcome: dict | None) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(id=job_id)
        changeset = job.result["changeset"]
        for entry in changeset:
            if entry["path"] == path:
                entry["apply"] = outcome
        Job.objects.filter(id=job.id).update(result={**job.result, "changeset": changeset})


def apply_changeset(job: Job, username: str, paths: list[str] | None = None) -> list[dict]:
    """Apply the listed files (all when `paths` is None) that are not applied yet, on behalf of `username`;
    returns their outcomes.

    The merge runs outside any transaction: its CRDT update is committed before it is fanned out.
    """
    if job.status != JobStatus.SUCCEEDED:
        raise JobError("Only a succeeded job can be applied.")
    checkpoints.auto(job.workspace_id, f"before applying Deep job #{job.id} for {username}")
    outcomes = []
    for entry in _claim_entries(job.id, paths):
        try:
            outcome = _apply_entry(job, entry)
        except Exception:
            _store_outcome(job.id, entry["path"], None)  # not applied: let a later request retry it
            raise
        outcome = {**outcome, "by": username, "at": timezone.now().isoformat()}
        _store_outcome(job.id, entry["path"], outcome)
        outcomes.append({"path": entry["path"], **outcome})
    if outcomes:
        conflicted = [o["path"] for o in outcomes if o["status"] == "conflict"]
        message = f"applied {len(outcomes) - len(conflicted)} file(s)"
        if conflicted:
            message += f"; conflicts in {', '.join(conflicted)}"
        events.record(job, "apply", message, {"files": outcomes})
        events.broadcast(job.workspace_id, "job.applied", {"job_id": job.id, "files": outcomes})
        events.broadcast(job.workspace_id, "history.updated", {"kind": "job", "id": job.id, "status": job.status})
    return outcomes
