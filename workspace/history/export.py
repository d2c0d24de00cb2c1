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


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value  # keep spreadsheets from evaluating prompt text as a formula
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in EXPORT_COLUMNS])
    return out.getvalue()


def to_json(rows: list[dict]) -> str:
    return json.dumps([{c: row.get(c) for c in EXPORT_COLUMNS} for row in rows], cls=DjangoJSONEncoder)
