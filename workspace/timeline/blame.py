"""Blame of a file's lines from the CRDT credits (collab.authorship): who last wrote each line, and when.

A line's author is the origin of its most recently written character (its line break excluded, so pressing
Enter after a line does not take it over). A line whose author is a model (Spark or Deep) is "AI-written,
unreviewed" until a person edits it (they become its author) or marks it reviewed (`mark_reviewed`, an
`AiReview` of the origins in the chosen lines, as of now).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone

from workspace.collab import authorship
from workspace.collab.attribution import DEEP, GIT, HUMAN, SPARK
from workspace.collab.authorship import Credits, Origin
from workspace.jobs.models import Job
from workspace.projects.models import FileNode
from workspace.spark.models import SparkRequest
from workspace.timeline.models import AiReview

AI_KINDS = (SPARK, DEEP)
PROMPT_PREVIEW = 500


@dataclass(frozen=True)
class AuthorInfo:
    """One origin as shown: a person's name, or "Spark · model" with its request's prompt and history link."""

    kind: str
    name: str
    user_id: int | None
    model: str
    ref: str
    at: float
    prompt: str
    link: str


@dataclass(frozen=True)
class FileBlame:
    """`lines[i]`: index in `authors` of line i's author; `unreviewed[i]`: line i is AI-written, unreviewed."""

    text: str
    authors: list[AuthorInfo]
    lines: list[int]
    unreviewed: list[bool]


def line_origins(credits: Credits) -> list[int]:
    """For every line of the text, the origin index of its most recently written character."""
    encoded = credits.text.encode("utf-8")
    runs = credits.runs()
    origins = credits.origins
    result: list[int] = []
    run_index, run_start = 0, 0
    line_start = 0
    while True:
        newline = encoded.find(b"\n", line_start)
        line_end = len(encoded) if newline < 0 else newline
        # Skip runs that end before this line.
        while run_index < len(runs) and run_start + runs[run_index][0] <= line_start:
            run_start += runs[run_index][0]
            run_index += 1
        best, index, start = None, run_index, run_start
        while index < len(runs) and start < line_end:
            origin = runs[index][1]
            if best is None or origins[origin].at > origins[best].at:
                best = origin
            start += runs[index][0]
            index += 1
        if best is None:  # an empty line: its line break's origin; none after the final line break
            best = runs[run_index][1] if run_index < len(runs) else -1
        result.append(best)
        if newline < 0:
            return result
        line_start = newline + 1


def file_blame(node: FileNode) -> FileBlame:
    credits = authorship.current(node.id)
    lines = line_origins(credits)
    used = sorted({origin for origin in lines if origin >= 0})
    renumber = {old: new for new, old in enumerate(used)}
    origins = [credits.origins[old] for old in used]
    reviewed = _reviewed(node.id, origins)
    unreviewed = [
        origin >= 0 and origins[renumber[origin]].kind in AI_KINDS and not reviewed[renumber[origin]]
        for origin in lines
    ]
    return FileBlame(
        credits.text,
        describe(node.workspace_id, origins),
        [renumber.get(origin, -1) for origin in lines],
        unreviewed,
    )


def _reviewed(file_id: int, origins: list[Origin]) -> list[bool]:
    latest: dict[tuple[str, str, str], float] = {}
    for kind, model, ref, at in AiReview.objects.filter(file_id=file_id).values_list(
        "origin_kind", "origin_model", "origin_ref", "reviewed_at"
    ):
        key = (kind, model, ref)
        latest[key] = max(latest.get(key, 0.0), at.timestamp())
    return [latest.get((o.kind, o.model, o.ref), -1.0) >= o.at for o in origins]


def describe(workspace_id: int, origins: list[Origin]) -> list[AuthorInfo]:
    """Names, prompts and history links of origins (prompts only of requests and jobs of this workspace)."""
    users = {
        user.id: user.get_full_name() or user.get_username()
        for user in get_user_model().objects.filter(id__in={o.author_id for o in origins if o.author_id})
    }
    spark_ids = [int(o.ref) for o in origins if o.kind == SPARK and o.ref.isdigit()]
    job_ids = [int(o.ref) for o in origins if o.kind == DEEP and o.ref.isdigit()]
    prompts = {
        (SPARK, str(pk)): prompt
        for pk, prompt in SparkRequest.objects.filter(id__in=spark_ids, workspace_id=workspace_id).values_list(
            "id", "prompt"
        )
    }
    prompts.update(
        {
            (DEEP, str(pk)): prompt
            for pk, prompt in Job.objects.filter(id__in=job_ids, workspace_id=workspace_id).values_list("id", "prompt")
        }
    )
    described = []
    for origin in origins:
        person = users.get(origin.author_id, "")
        prompt = prompts.get((origin.kind, origin.ref))
        link = ""
        if prompt is not None:
            link = f"/history/spark/{origin.ref}/" if origin.kind == SPARK else f"/history/jobs/{origin.ref}/"
        described.append(
            AuthorInfo(
                origin.kind,
                _name(origin, person),
                origin.author_id,
                origin.model,
                origin.ref,
                origin.at,
                (prompt or "")[:PROMPT_PREVIEW],
                link,
            )
        )
    return described


def _name(origin: Origin, person: str) -> str:
    if origin.kind == HUMAN:
        return person or "a former member"
    if origin.kind in AI_KINDS:
        return f"{origin.kind.capitalize()} · {origin.model or 'model'}"
    if origin.kind == GIT:
        return f"git ({person})" if person else "git"
    return "Sparkroom" if origin.kind == "server" else "before attribution"


def mark_reviewed(node: FileNode, user, first_line: int | None = None, last_line: int | None = None) -> int:
    """Mark the AI-written lines first_line..last_line (1-based, inclusive; None: all) reviewed by `user`: every
    model origin authoring one of them counts as reviewed as of now. Returns how many origins were marked."""
    blame = file_blame(node)
    first = max(1, first_line or 1)
    last = min(len(blame.lines), last_line or len(blame.lines))
    chosen = {blame.lines[number - 1] for number in range(first, last + 1) if blame.unreviewed[number - 1]}
    now = timezone.now()
    reviews = [
        AiReview(
            file=node,
            origin_kind=blame.authors[index].kind,
            origin_model=blame.authors[index].model,
            origin_ref=blame.authors[index].ref,
            reviewed_by=user,
            reviewed_at=now,
        )
        for index in sorted(chosen)
    ]
    AiReview.objects.bulk_create(reviews)
    return len(reviews)
