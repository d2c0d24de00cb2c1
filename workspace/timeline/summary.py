"""Share of a file's or a workspace's lines by person and by model, and how many AI-written lines await review."""

from __future__ import annotations

from dataclasses import dataclass

from workspace.projects.models import FileNode
from workspace.timeline.blame import AI_KINDS, FileBlame, file_blame


@dataclass(frozen=True)
class AuthorShare:
    kind: str
    name: str
    lines: int
    share: float


@dataclass(frozen=True)
class Summary:
    lines: int
    ai_lines: int
    unreviewed_ai_lines: int
    authors: list[AuthorShare]


def summarise(blames: list[FileBlame]) -> Summary:
    counts: dict[tuple[str, str], int] = {}
    total = ai = unreviewed = 0
    for blame in blames:
        for index, waiting in zip(blame.lines, blame.unreviewed, strict=True):
            if index < 0:
                continue
            author = blame.authors[index]
            counts[(author.kind, author.name)] = counts.get((author.kind, author.name), 0) + 1
            total += 1
            ai += author.kind in AI_KINDS
            unreviewed += waiting
    shares = [
        AuthorShare(kind, name, lines, round(lines / total, 4) if total else 0.0)
        for (kind, name), lines in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return Summary(total, ai, unreviewed, shares)


def workspace_summary(workspace_id: int) -> tuple[Summary, list[tuple[FileNode, Summary]]]:
    """The whole workspace's summary and each live text file's."""
    per_file = []
    blames = []
    for node in FileNode.objects.filter(workspace_id=workspace_id, is_folder=False).order_by("path"):
        if not node.is_live_text:
            continue
        blame = file_blame(node)
        blames.append(blame)
        per_file.append((node, summarise([blame])))
    return summarise(blames), per_file
