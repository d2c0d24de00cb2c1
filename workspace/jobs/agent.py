"""The Deep agent loop: the DEEP_* model plans and calls workspace tools until it answers without a tool call."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from workspace.jobs.tools import TOOL_SCHEMAS, ToolError, WorkspaceTools

SYSTEM_PROMPT = (
    "You are Sparkroom's Deep mode, a careful software engineer working on a copy of the user's workspace. "
    "Use the tools to list, read and search files, write complete new file contents with write_file, remove "
    "files with delete_file, move or rename them with move_file, and run tests or linters with run_command "
    "(sandboxed, no network). Your changes are proposed to the team as a diff to review. When done, reply "
    "with a short summary of what you changed, without calling a tool."
)
PROGRESS_INTERVAL = 0.25
MAX_TOOL_OUTPUT_TO_MODEL = 16000


class JobCancelled(Exception):
    """The job was cancelled by a member; stop at the next safe point."""


@dataclass
class Completion:
    content: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class AgentReport:
    """How the loop reports back: callbacks provided by the runner."""

    event: Callable[[str, str, dict | None], None]
    progress: Callable[..., None]
    should_stop: Callable[[], bool]


def stream_completion(client, model: str, messages: list[dict], report: AgentReport, tokens: dict) -> Completion:
    """One streamed model call; counts tokens live and stops as soon as the job is cancelled."""
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOL_SCHEMAS,
        stream=True,
        stream_options={"include_usage": True},
    )
    completion = Completion()
    calls: dict[int, dict] = {}
    streamed_tokens = 0
    last_report = time.monotonic()
    try:
        for chunk in stream:
            if report.should_stop():
                raise JobCancelled()
            if chunk.usage is not None:
                completion.tokens_in = chunk.usage.prompt_tokens or 0
                completion.tokens_out = chunk.usage.completion_tokens or 0
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    completion.content += delta.content
                    streamed_tokens += 1
                for call in delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] = call.id or entry["id"]
                    if call.function is not None:
                        entry["name"] += call.function.name or ""
                        entry["arguments"] += call.function.arguments or ""
                    streamed_tokens += 1
            if time.monotonic() - last_report >= PROGRESS_INTERVAL:
                last_report = time.monotonic()
                report.progress(tokens_out=tokens["out"] + streamed_tokens)
    finally:
        stream.close()
    completion.tool_calls = [calls[index] for index in sorted(calls)]
    if not completion.tokens_out:
        completion.tokens_out = streamed_tokens
    return completion


def run_agent(client, model: str, prompt: str, tools: WorkspaceTools, report: AgentReport) -> str:
    """Run the loop; returns the model's final summary. Raises JobCancelled or the SDK's errors."""
    listing = tools.tool_list_files()
    messages: list[dict] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Task: {prompt}\n\nFiles of the workspace:\n{listing}"},
    ]
    tokens = {"in": 0, "out": 0}
    max_steps = settings.DEEP_MAX_STEPS
    for step in range(1, max_steps + 1):
        if report.should_stop():
            raise JobCancelled()
        report.progress(step=f"Step {step}: thinking", progress=_fraction(step - 1, max_steps))
        completion = stream_completion(client, model, messages, report, tokens)
        tokens["in"] += completion.tokens_in
        tokens["out"] += completion.tokens_out
        report.progress(tokens_in=tokens["in"], tokens_out=tokens["out"])
        if completion.content.strip():
            report.event("plan" if step == 1 else "output", completion.content, {"step": step})
        if not completion.tool_calls:
            return completion.content
        messages.append(
            {
                "role": "assistant",
                "content": completion.content or None,
                "tool_calls": [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in completion.tool_calls
                ],
            }
        )
        for call in completion.tool_calls:
            if report.should_stop():
                raise JobCancelled()
            report.progress(step=f"Step {step}: {call['name']}", progress=_fraction(step - 0.5, max_steps))
            report.event("tool_call", f"{call['name']}({_short(call['arguments'])})", {"name": call["name"]})
            try:
                output = tools.call(call["name"], call["arguments"])
                report.event("tool_output", output, {"name": call["name"]})
            except ToolError as exc:
                output = f"error: {exc}"
                report.event("error", output, {"name": call["name"]})
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": output[:MAX_TOOL_OUTPUT_TO_MODEL]})
    report.event("error", f"stopped after {max_steps} steps (DEEP_MAX_STEPS); keeping the files written so far", None)
    return ""


def _fraction(done: float, total: int) -> float:
    # The last few percent are kept for building the changeset.
    return round(min(0.95, max(0.0, done / max(total, 1)) * 0.95), 3)


def _short(arguments: str, limit: int = 200) -> str:
    try:
        parsed = json.loads(arguments or "{}")
        if isinstance(parsed, dict) and "content" in parsed:
            parsed = {**parsed, "content": f"<{len(str(parsed['content']))} characters>"}
        text = json.dumps(parsed)
    except ValueError:
        text = arguments
    return text if len(text) <= limit else text[:limit] + "..."
