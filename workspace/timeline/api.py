"""Blame JSON API: who last wrote each line of a file, marking AI-written lines reviewed, authorship summaries."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from workspace.projects import guard
from workspace.projects.models import Role
from workspace.timeline import blame, summary

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
