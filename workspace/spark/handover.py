"""'Take this to Deep': what a Deep job handed over from Spark carries (the conversation, the file, the selection,
the pending AI text) and the link between the two (sync ORM code).

The job itself is created by the edge (`jobs.services.create_handover_job`): a feature app does not reach into
another one. The Spark side keeps the link: every request of the thread records the job (`handover_job_id`), so the
job card and the history link back to the thread.
"""

from __future__ import annotations

from django.db.models import Q

from workspace.spark import services
from workspace.spark.models import SparkRequest
from workspace.spark.positions import byte_slice, utf16_to_byte

MAX_PART_CHARS = 6000
MAX_TURNS = 12


def _cut(text: str, limit: int = MAX_PART_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"


def selection_text(text: str, selection: dict | None) -> str:
    if not isinstance(selection, dict):
        return ""
    try:
        start, end = int(selection.get("start", 0)), int(selection.get("end", 0))
    except (TypeError, ValueError):
        return ""
    if end <= start:
        return ""
    return byte_slice(text, utf16_to_byte(text, start), utf16_to_byte(text, end))


def build_prompt(
    path: str,
    thread: list[SparkRequest],
    pending_text: str,
    instruction: str,
    conversation: list[dict],
    selection: str,
) -> str:
    """The Deep job's task: the instruction, then everything Spark knew."""
    task = instruction.strip() or next((m.instruction for m in reversed(thread) if m.instruction), "")
    parts = [f"Task (handed over from Spark mode): {task or 'continue the work described below'}", f"File: {path}"]
    steps = [m for m in thread if m.instruction and m.mode != "chat"]
    if steps:
        parts.append(
            "Instructions given to Spark for this place, in order:\n"
            + "\n".join(f"{i}. {m.instruction}" for i, m in enumerate(steps, 1))
        )
    turns = [m for m in conversation if isinstance(m, dict) and m.get("role") in ("user", "assistant")][-MAX_TURNS:]
    if turns:
        lines = [f"{m['role']}: {_cut(str(m.get('content', '')), 1500)}" for m in turns]
        parts.append("Conversation with Spark:\n" + "\n".join(lines))
    if selection:
        parts.append(f"Selected text in {path}:\n{_cut(selection)}")
    if pending_text:
        note = "Spark's pending edit (in the file now, not accepted yet; keep, change or replace it)"
        parts.append(f"{note}:\n{_cut(pending_text)}")
    return "\n\n".join(parts)


def prepare(
    workspace_id: int,
    user_id: int,
    file_id: int,
    request_id: int | None,
    instruction: str,
    conversation: list[dict],
    selection: dict | None,
) -> tuple[SparkRequest, str]:
    """The Spark request the hand-over belongs to (the one named, or a new record of this ask when none is) and the
    job's prompt. Raises SparkError."""
    node = services.file_in_workspace(file_id, workspace_id)
    if request_id is not None:
        row = services.get_request(request_id, workspace_id)
    else:
        row = SparkRequest.objects.create(
            workspace_id=workspace_id,
            file_id=node.id,
            user_id=user_id,
            mode=SparkRequest.Mode.CHAT,
            instruction=instruction,
            status=SparkRequest.Status.DONE,
            prompt="handed over to Deep mode before any model call",
        )
    thread = services.thread_members(row)
    pending = row.inserted_text if row.pending and row.mode != "chat" else ""
    text = services.file_text(node.id)
    prompt = build_prompt(node.path, thread, pending, instruction, conversation, selection_text(text, selection))
    return row, prompt


def link(row: SparkRequest, job_id: int) -> int:
    """Record the job on every request of the thread; returns the thread's id."""
    root = row.thread_id_or_own
    SparkRequest.objects.filter(Q(id=root) | Q(thread_id=root)).update(handover_job_id=job_id)
    return root
