"""Resolve one conflict of an applied changeset entry: take the job's version, keep the live text, or write the merge.

An apply that met a conflict kept the live text there and stored the conflict (base, ours, theirs). Resolving it
merges the job's version into the live document again (the same three-way merge as apply), finds that conflict in
today's text (by its base and job texts; the live text there may have moved or changed) and replaces just its lines,
as one CRDT edit attributed to the job. When every conflict of the file is resolved, the file counts as applied.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from workspace.collab import store
from workspace.collab.attribution import DEEP, HUMAN, Author
from workspace.collab.merge import Conflict, MergeResult, Replacement, apply_to_text, merge3
from workspace.collab.publish import publish_update_sync
from workspace.collab.ydoc import doc_text, is_empty_update
from workspace.jobs import events
from workspace.jobs.models import Job
from workspace.jobs.services import JobError

CHOICES = ("theirs", "ours", "edit")


class StaleConflict(JobError):
    """The live text of the conflict changed since it was shown: show it again before deciding."""

    def __init__(self, ours: str) -> None:
        super().__init__("The live text of this conflict changed since it was shown; look at it again.")
        self.ours = ours


MAX_EDIT = 512 * 1024


def _claim(job_id: int, path: str, index: int) -> tuple[dict, dict]:
    """Mark the conflict as being resolved (a concurrent request for it is refused); returns (entry, conflict)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(id=job_id)
        changeset = (job.result or {}).get("changeset") or []
        entry = next((e for e in changeset if e["path"] == path), None)
        outcome = (entry or {}).get("apply") or {}
        conflicts = outcome.get("conflicts") or []
        if entry is None or not 0 <= index < len(conflicts):
            raise JobError(f"No conflict #{index + 1} in {path}.")
        if conflicts[index].get("resolution"):
            raise JobError(f"Conflict #{index + 1} in {path} is already resolved.")
        conflicts[index]["resolution"] = {"choice": "resolving"}
        Job.objects.filter(id=job.id).update(result={**job.result, "changeset": changeset})
    return entry, conflicts


def _store(job_id: int, path: str, index: int, resolution: dict | None, ours: str | None = None) -> dict:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(id=job_id)
        changeset = job.result["changeset"]
        entry = next(e for e in changeset if e["path"] == path)
        conflicts = entry["apply"]["conflicts"]
        conflicts[index]["resolution"] = resolution
        if ours is not None:
            conflicts[index]["ours"] = ours
        if all(c.get("resolution") and c["resolution"]["choice"] != "resolving" for c in conflicts):
            entry["apply"]["status"] = "applied"
        Job.objects.filter(id=job.id).update(result={**job.result, "changeset": changeset})
    return entry["apply"]


def _find_live(merge: MergeResult, stored: list[dict], index: int) -> Conflict | None:
    """The stored conflict #index among today's: same base and job text, the n-th such one still conflicting."""
    wanted = stored[index]

    def same(c: dict | Conflict) -> bool:
        base, theirs = (c["base"], c["theirs"]) if isinstance(c, dict) else (c.base, c.theirs)
        return (base, theirs) == (wanted["base"], wanted["theirs"])

    # Earlier twins resolved to the job's version no longer conflict.
    earlier = sum(
        1 for c in stored[:index] if same(c) and ((c.get("resolution") or {}).get("choice") or "") != "theirs"
    )
    matches = [c for c in merge.conflicts if same(c)]
    exact = [c for c in matches if c.ours == wanted["ours"]]
    if len(exact) > earlier:
        return exact[earlier]
    return matches[0] if len(matches) == 1 else None


def _replacement_lines(choice: str, conflict: Conflict, text: str | None, total_lines: int) -> list[str]:
    chosen = conflict.theirs if choice == "theirs" else (text or "")
    if chosen and not chosen.endswith("\n") and conflict.ours_end < total_lines:
        chosen += "\n"  # the next line must stay a line of its own
    return chosen.splitlines(keepends=True)


def _author(job: Job, choice: str, username: str) -> Author:
    """The job's version is the job's writing; an edited merge is the resolving person's."""
    if choice == "theirs":
        return Author(job.user_id, DEEP, job.model, str(job.id))
    return Author(get_user_model().objects.filter(username=username).values_list("id", flat=True).first(), HUMAN)


def _write(job: Job, entry: dict, stored: list[dict], index: int, choice: str, text: str | None, username: str) -> str:
    """Replace the conflict's lines in the live file; returns what happened, for the log."""
    file_id = entry["apply"].get("file_id") or entry["file_id"]
    doc = store.load_doc(file_id)
    live = doc_text(doc)
    ours = str(live)
    conflict = _find_live(merge3(entry["base"], ours, entry["proposed"]), stored, index)
    if conflict is None:
        return "the live text had changed there; nothing was written"
    if conflict.ours != stored[index]["ours"]:
        raise StaleConflict(conflict.ours)
    if choice == "ours":
        return "kept the live text"
    lines = _replacement_lines(choice, conflict, text, len(ours.splitlines()))
    edit = MergeResult(text="", replacements=[Replacement(conflict.ours_start, conflict.ours_end, lines)])
    update = apply_to_text(doc, live, ours, edit)
    if not is_empty_update(update):
        publish_update_sync(file_id, update, f"job:{job.id}", _author(job, choice, username))
    return "took the job's version" if choice == "theirs" else "wrote the edited merge"


def resolve_conflict(job: Job, username: str, path: str, index: int, choice: str, text: str | None = None) -> dict:
    """Resolve conflict #index (0-based, as listed in the entry's apply outcome) of `path`; returns the outcome."""
    if choice not in CHOICES:
        raise JobError(f"choice must be one of {', '.join(CHOICES)}")
    if choice == "edit" and (text is None or len(text) > MAX_EDIT):
        raise JobError(f"An edited merge needs its text (at most {MAX_EDIT} characters).")
    entry, stored = _claim(job.id, path, index)
    try:
        what = _write(job, entry, stored, index, choice, text, username)
    except StaleConflict as exc:
        _store(job.id, path, index, None, ours=exc.ours)
        events.broadcast(job.workspace_id, "job.applied", {"job_id": job.id, "files": [{"path": path}]})
        raise
    except Exception:
        _store(job.id, path, index, None)  # let a later request retry it
        raise
    resolution = {"choice": choice, "by": username, "at": timezone.now().isoformat(), "note": what}
    outcome = _store(job.id, path, index, resolution)
    events.record(job, "apply", f"{username} resolved conflict #{index + 1} in {path}: {what}", {"path": path})
    events.broadcast(job.workspace_id, "job.applied", {"job_id": job.id, "files": [{"path": path, **outcome}]})
    return {"path": path, **outcome}
