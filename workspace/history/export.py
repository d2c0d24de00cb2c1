"""CSV and JSON exports of the (filtered) history."""

from __future__ import annotations

import csv
import io
import json

from django.core.serializers.json import DjangoJSONEncoder

EXPORT_COLUMNS = (
    "kind",
    "id",
    "workspace_id",
    "workspace",
    "user",
    "created_at",
    "finished_at",
    "files",
    "mode",
    "model",
    "status",
    "ttft_ms",
    "tokens",
    "tokens_per_second",
    "duration_ms",
    "overhead_ms",
    "outcome",
    "prompt",
    "error",
)


# Characters that make a spreadsheet read a cell as a formula (OWASP's CSV injection list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text` as a spreadsheet shows it verbatim: a leading `'` when it would start a formula, even after
    leading whitespace (spreadsheets skip it when they guess a cell's type)."""
    if text.startswith(FORMULA_PREFIXES) or text.lstrip().startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        # One cell for all of them: what counts is how the joined cell starts.
        value = ";".join("" if v is None else str(v) for v in value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return neutralise(str(value))


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in EXPORT_COLUMNS])
    return out.getvalue()


def to_json(rows: list[dict]) -> str:
    return json.dumps([{c: row.get(c) for c in EXPORT_COLUMNS} for row in rows], cls=DjangoJSONEncoder)
