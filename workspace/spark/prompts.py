"""Prompts for Spark requests (edits, refinements of a pending edit, chat, completions), telling a long task from a
quick one, and filtering a streamed answer as it arrives (markdown fences, the model's own hand-over signal)."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = "```"
MAX_FILE_CHARS = 24_000
NEARBY_LINES = 12

HANDOVER_MARKER = "DEEP:"
SYSTEM_EDIT = (
    "You are Spark, a code-editing assistant inside a collaborative editor. "
    "Reply with ONLY the code that goes at the marked place: no explanations, no markdown fences. "
    "Keep the file's indentation and style. "
    f"If the request cannot be done well at this one place (it needs changes in several files, or a long "
    f"multi-step effort), reply with only one line: {HANDOVER_MARKER} followed by a short reason."
)
SYSTEM_CHAT = (
    "You are Spark, a coding assistant inside a collaborative editor. Answer concisely. "
    "Put code in fenced markdown blocks so the user can apply it to the file."
)


@dataclass(frozen=True)
class EditContext:
    path: str
    language: str
    text: str
    start: int
    end: int
    mode: str  # insert | replace | chat

    @property
    def selection(self) -> str:
        return self.text[self.start : self.end]


def _window(text: str, start: int, end: int) -> tuple[str, str, bool]:
    """Text before/after the selection, trimmed around it to MAX_FILE_CHARS."""
    budget = max(MAX_FILE_CHARS - (end - start), 2_000) // 2
    before = text[max(0, start - budget) : start]
    after = text[end : end + budget]
    return before, after, start - budget > 0 or end + budget < len(text)


def _nearby(text: str, start: int, end: int) -> str:
    lines_before = text[:start].split("\n")[-NEARBY_LINES:]
    lines_after = text[end:].split("\n")[:NEARBY_LINES]
    return "\n".join(lines_before) + "<<HERE>>" + "\n".join(lines_after)


def build_messages(ctx: EditContext, instruction: str, history: list[dict] | None = None) -> list[dict]:
    """Chat-completions messages carrying the file, the selection or cursor, the language and nearby code."""
    before, after, trimmed = _window(ctx.text, ctx.start, ctx.end)
    if ctx.mode == "replace" or (ctx.mode == "chat" and ctx.end > ctx.start):
        marked = f"{before}<selection>{ctx.selection}</selection>{after}"
        place = "Rewrite the text between <selection> and </selection>; reply with the replacement only."
    else:
        marked = f"{before}<cursor/>{after}"
        place = "Write the code to insert at <cursor/>; reply with the inserted code only."
    file_block = (
        f"File: {ctx.path} (language: {ctx.language}){' [trimmed]' if trimmed else ''}\n"
        f"<file>\n{marked}\n</file>\n\nNearby code (<<HERE>> marks the place):\n{_nearby(ctx.text, ctx.start, ctx.end)}"
    )
    if ctx.mode == "chat":
        messages = [{"role": "system", "content": SYSTEM_CHAT}, {"role": "user", "content": file_block}]
        messages += [m for m in history or [] if m.get("role") in ("user", "assistant")]
        return messages + [{"role": "user", "content": instruction}]
    return [
        {"role": "system", "content": SYSTEM_EDIT},
        {"role": "user", "content": f"{file_block}\n\nInstruction: {instruction}\n\n{place}"},
    ]


def build_refine_messages(
    ctx: EditContext, instructions: list[str], original: str, current: str, follow_up: str
) -> list[dict]:
    """A follow-up on a pending edit ("make it simpler"): the earlier instructions, the text from before them, the
    AI text now in the file (marked as the selection when it is found there) and the follow-up."""
    before, after, trimmed = _window(ctx.text, ctx.start, ctx.end)
    if ctx.end > ctx.start:
        marked = f"{before}<selection>{ctx.selection}</selection>{after}"
    else:
        marked = f"{before}<cursor/>{after}"
    history = "\n".join(f"{i}. {text}" for i, text in enumerate(instructions, 1))
    original_block = f"<original>\n{original}\n</original>" if original else "(it was inserted: nothing was there)"
    content = (
        f"File: {ctx.path} (language: {ctx.language}){' [trimmed]' if trimmed else ''}\n<file>\n{marked}\n</file>\n\n"
        f"Earlier instructions for this place, in order:\n{history}\n\n"
        f"Text before the first instruction: {original_block}\n\n"
        f"Your current answer (in the file as the selection):\n<current>\n{current}\n</current>\n\n"
        f"Follow-up: {follow_up}\n\n"
        "Rewrite your current answer following every instruction above, the follow-up last; reply with the new "
        "text for the selection only."
    )
    return [{"role": "system", "content": SYSTEM_EDIT}, {"role": "user", "content": content}]


# A long task: several files named, or the whole codebase. Spark offers the hand-over to Deep instead of streaming.
_FILE_NAME = re.compile(r"\b[\w./-]+\.(?:py|js|ts|tsx|jsx|css|html|md|json|toml|ya?ml|txt|rs|go|java|c|h|cpp|rb|sh)\b")
_WHOLE = re.compile(
    r"\b(?:(?:refactor|rewrite|rename|migrate|port|convert|update|change)\b.{0,30}\b(?:the whole|the entire|all|"
    r"every|each)\b.{0,20}\b(?:code ?base|project|repo(?:sitory)?|files?|modules?|packages?|app(?:lication)?)"
    r"|(?:across|throughout) the (?:code ?base|project|repo(?:sitory)?|app(?:lication)?)"
    r"|(?:whole|entire) (?:code ?base|project|repo(?:sitory)?))",
    re.IGNORECASE,
)


def long_task_reason(instruction: str) -> str | None:
    """Why this request looks like a job for Deep mode, or None when it looks like one quick edit."""
    names = {name.lower() for name in _FILE_NAME.findall(instruction)}
    if len(names) >= 2:
        return f"it names {len(names)} files ({', '.join(sorted(names)[:4])})"
    match = _WHOLE.search(instruction)
    if match:
        return f'it asks for "{match.group(0)}"'
    return None


class HandOverSuggested(Exception):
    """The model answered that the request needs Deep mode; the message is its reason."""


async def detect_handover(pieces):
    """Pass a stream through, unless it opens with the hand-over marker: then raise HandOverSuggested (with the
    rest of that line as the reason) before anything reached the document. Text is held back only while the start
    of the answer could still be the marker."""
    head = ""
    deciding = True
    try:
        async for piece in pieces:
            if not deciding:
                yield piece
                continue
            head += piece
            stripped = head.lstrip()
            if stripped.startswith(HANDOVER_MARKER):
                if "\n" in stripped:
                    raise HandOverSuggested(stripped[len(HANDOVER_MARKER) :].split("\n", 1)[0].strip())
                continue
            if stripped and not HANDOVER_MARKER.startswith(stripped):
                deciding = False
                yield head
        if deciding and head.lstrip().startswith(HANDOVER_MARKER):
            raise HandOverSuggested(head.lstrip()[len(HANDOVER_MARKER) :].strip())
        if deciding and head:
            yield head
    finally:
        await pieces.aclose()


def prompt_text(messages: list[dict]) -> str:
    """The prompt as stored on the request record."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


class FenceStripper:
    """Remove markdown code fences from streamed text without waiting for the whole answer.

    Text is released as soon as it cannot be part of a fence line: only a line that could still turn
    into ``` (e.g. a lone "`" or leading spaces) is held back until it is complete. An opening fence
    line is dropped; after a closing fence, the rest (usually prose) is dropped.
    """

    def __init__(self) -> None:
        self._line = ""
        self._mid_line = False
        self._opened = False
        self._closed = False

    def feed(self, piece: str) -> str:
        if self._closed:
            return ""
        out: list[str] = []
        self._line += piece
        while self._line and not self._closed:
            newline = self._line.find("\n")
            if self._mid_line:
                if newline < 0:
                    out.append(self._line)
                    self._line = ""
                    break
                out.append(self._line[: newline + 1])
                self._line, self._mid_line = self._line[newline + 1 :], False
            elif newline >= 0:
                line, self._line = self._line[: newline + 1], self._line[newline + 1 :]
                out.append(self._complete_line(line))
            elif self._could_be_fence(self._line):
                break
            else:
                self._mid_line = True
        return "".join(out)

    def finish(self) -> str:
        rest, self._line = self._line, ""
        if self._closed or (not self._mid_line and rest.strip().startswith(FENCE)):
            return ""
        return rest

    def _complete_line(self, line: str) -> str:
        if not line.strip().startswith(FENCE):
            return line
        if self._opened:
            self._closed = True
            self._line = ""
        self._opened = True
        return ""

    @staticmethod
    def _could_be_fence(partial: str) -> bool:
        """True while an unfinished line may still turn out to be a fence line."""
        stripped = partial.lstrip()
        return stripped.startswith(FENCE) or FENCE.startswith(stripped)


def strip_fences(text: str) -> str:
    stripper = FenceStripper()
    return stripper.feed(text) + stripper.finish()
