"""Timeline JSON API: blame (who last wrote each line), marking AI-written lines reviewed, authorship summaries, and
each file's history: its versions, their texts and diffs, restoring a version or some of its hunks, undoing that."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from workspace.projects import guard
from workspace.projects.models import Role
from workspace.timeline import blame, history, restore, summary
from workspace.timeline.models import FileRestore

router = Router(tags=["timeline"])
PREFIX = ""


class AuthorOut(Schema):
    kind: str  # human, spark, deep, git, server, unknown
    name: str  # a person's name, or "Spark · model"
    user_id: int | None
    model: str
    ref: str  # the Spark request's or Deep job's id
    at: float  # epoch seconds of its last write (to the minute)
    prompt: str  # the request's prompt (first 500 characters), for models
    link: str  # the request's history entry, for models


class BlameOut(Schema):
    file_id: int
    authors: list[AuthorOut]
    # lines[i]: index in authors of the author of line i + 1 (-1: the empty line after a final line break)
    lines: list[int]
    unreviewed: list[bool]


class ShareOut(Schema):
    kind: str
    name: str
    lines: int
    share: float


class SummaryOut(Schema):
    lines: int
    ai_lines: int
    unreviewed_ai_lines: int
    authors: list[ShareOut]


class FileSummaryOut(SummaryOut):
    file_id: int
    path: str


class WorkspaceAuthorshipOut(Schema):
    total: SummaryOut
    files: list[FileSummaryOut]


class ReviewIn(Schema):
    first_line: int | None = None  # 1-based, inclusive; None: from the first line
    last_line: int | None = None  # None: to the last line


class ReviewOut(Schema):
    reviewed_origins: int


def _blame_out(file_id: int, result: blame.FileBlame) -> dict:
    return {
        "file_id": file_id,
        "authors": [vars(author) for author in result.authors],
        "lines": result.lines,
        "unreviewed": result.unreviewed,
    }


def _summary_out(result: summary.Summary) -> dict:
    return {**vars(result), "authors": [vars(share) for share in result.authors]}


def _live_text(request, file_id: int, minimum: str):
    node = guard.api_file(request, file_id, minimum)
    if not node.is_live_text:
        raise HttpError(400, "only text documents have a blame")
    return node


@router.get("/files/{file_id}/blame", response=BlameOut)
def file_blame(request, file_id: int):
    """Who last wrote each line (a person, or a model with its request), and which AI lines await review."""
    node = _live_text(request, file_id, Role.VIEWER)
    return _blame_out(node.id, blame.file_blame(node))


@router.post("/files/{file_id}/blame/review", response=ReviewOut)
def review_lines(request, file_id: int, payload: ReviewIn):
    """Mark the AI-written lines of a range (all lines by default) reviewed by the caller."""
    node = _live_text(request, file_id, Role.EDITOR)
    return {"reviewed_origins": blame.mark_reviewed(node, request.user, payload.first_line, payload.last_line)}


@router.get("/files/{file_id}/authorship", response=SummaryOut)
def file_authorship(request, file_id: int):
    """Share of the file's lines by person and by model; AI-written lines, and those not reviewed."""
    node = _live_text(request, file_id, Role.VIEWER)
    return _summary_out(summary.summarise([blame.file_blame(node)]))


@router.get("/workspaces/{workspace_id}/authorship", response=WorkspaceAuthorshipOut)
def workspace_authorship(request, workspace_id: int):
    """The same for the whole workspace, and per text file."""
    guard.api_role(request, workspace_id, Role.VIEWER)
    total, per_file = summary.workspace_summary(workspace_id)
    return {
        "total": _summary_out(total),
        "files": [{**_summary_out(result), "file_id": node.id, "path": node.path} for node, result in per_file],
    }


# History: versions, diffs, restore --------------------------------------------------------------------------
class ParticipantOut(Schema):
    kind: str
    name: str
    user_id: int | None
    model: str


class VersionOut(Schema):
    id: int  # the id of the last update of the version's session
    started_at: float  # epoch seconds
    ended_at: float
    participants: list[ParticipantOut]
    lines_added: int  # against the version before
    lines_deleted: int
    compacted: bool


class RestoreRecordOut(Schema):
    id: int
    version_id: int
    user: str
    at: float
    whole: bool  # the whole version (False: some hunks)
    conflicts: int
    undone: bool


class TimelineOut(Schema):
    file_id: int
    live_update_id: int
    versions: list[VersionOut]  # newest first
    restores: list[RestoreRecordOut]  # newest first


class VersionTextOut(Schema):
    id: int
    text: str


class HunkOut(Schema):
    # 0-based, end exclusive: old lines [old_start, old_end) are new lines [new_start, new_end)
    old_start: int
    old_end: int
    new_start: int
    new_end: int


class DiffOut(Schema):
    old_id: int
    new_id: int | None  # None: the live text
    old_text: str
    new_text: str
    hunks: list[HunkOut]
    live_update_id: int  # when new is the live text: pass it back to restore hunks of this diff


class RestoreIn(Schema):
    hunks: list[int] | None = None  # indexes in the diff from the version to the live text; None: the whole version
    live_update_id: int | None = None  # that diff's; None: the live text now


class RestoreOut(Schema):
    restore_id: int
    conflicts: list[dict]


class UndoOut(Schema):
    conflicts: list[dict]


def _history_file(request, file_id: int, minimum: str):
    node = guard.api_file(request, file_id, minimum)
    if not node.is_live_text:
        raise HttpError(400, "only text documents have a history")
    return node


def _restore_out(record) -> dict:
    user = (record.user.get_full_name() or record.user.get_username()) if record.user else "a former member"
    return {
        "id": record.id,
        "version_id": record.version_id,
        "user": user,
        "at": record.created_at.timestamp(),
        "whole": record.hunks is None,
        "conflicts": record.conflicts,
        "undone": record.undone_at is not None,
    }


@router.get("/files/{file_id}/versions", response=TimelineOut)
def file_versions(request, file_id: int):
    """The file's versions (one per editing session), newest first, with who took part, and its latest restores."""
    node = _history_file(request, file_id, Role.VIEWER)
    found = history.timeline(node)
    return {
        "file_id": node.id,
        "live_update_id": found.live_update_id,
        "versions": [{**vars(v), "participants": [vars(p) for p in v.participants]} for v in found.versions],
        "restores": [_restore_out(record) for record in restore.recent_restores(node)],
    }


@router.get("/files/{file_id}/versions/{version_id}", response=VersionTextOut)
def file_version(request, file_id: int, version_id: int):
    """One version's text."""
    node = _history_file(request, file_id, Role.VIEWER)
    try:
        return {"id": version_id, "text": history.version_text(node, version_id)}
    except history.VersionNotFound as exc:
        raise HttpError(404, str(exc)) from exc


@router.get("/files/{file_id}/versions/{version_id}/diff", response=DiffOut)
def file_version_diff(request, file_id: int, version_id: int, against: int | None = None):
    """The line hunks from a version to another (`against`) or to the live text (no `against`)."""
    node = _history_file(request, file_id, Role.VIEWER)
    try:
        found = history.diff(node, version_id, against)
    except history.VersionNotFound as exc:
        raise HttpError(404, str(exc)) from exc
    return {**vars(found), "hunks": [vars(hunk) for hunk in found.hunks]}


@router.post("/files/{file_id}/versions/{version_id}/restore", response=RestoreOut)
def restore_version(request, file_id: int, version_id: int, payload: RestoreIn):
    """Restore the version, or only some hunks of it, into the live document (everyone sees it at once)."""
    node = _history_file(request, file_id, Role.EDITOR)
    try:
        outcome = restore.restore(node, request.user, version_id, payload.hunks, payload.live_update_id)
    except history.VersionNotFound as exc:
        raise HttpError(404, str(exc)) from exc
    except restore.Stale as exc:
        raise HttpError(409, str(exc)) from exc
    except restore.RestoreError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"restore_id": outcome.restore_id, "conflicts": outcome.conflicts}


@router.post("/files/{file_id}/restores/{restore_id}/undo", response=UndoOut)
def undo_restore(request, file_id: int, restore_id: int):
    """Undo a restore as one unit: its changes go back, what others wrote since stays."""
    node = _history_file(request, file_id, Role.EDITOR)
    try:
        return {"conflicts": restore.undo(node, request.user, restore_id)}
    except FileRestore.DoesNotExist as exc:
        raise HttpError(404, "restore not found") from exc
    except restore.RestoreError as exc:
        raise HttpError(400, str(exc)) from exc
