"""The JSON API (/api/), with an OpenAPI schema at /api/openapi.json and docs at /api/docs.

Each app contributes a ninja Router from its own `api.py`; browsers authenticate with the session
cookie (CSRF checked), scripts with a personal API token if the accounts app provides one.
"""

from __future__ import annotations

import importlib

from django.conf import settings
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.parser import Parser
from ninja.security import django_auth

UNSTORABLE = "text with NUL characters (U+0000) or lone surrogates is not accepted"


def holds_unstorable_text(value: object) -> bool:
    """True when a string anywhere in `value` (parsed JSON or a query dict: keys, values, nested) holds U+0000 or a
    lone surrogate (which JSON's \\ud800 escapes produce): neither can be stored, in PostgreSQL nor SQLite."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and not _encodes(item)):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class StorableTextParser(Parser):
    """Ninja's parser, refusing with a 400 bodies and query strings whose text cannot be stored (the database call
    would fail with a 500); no Sparkroom field has a use for such text."""

    def parse_body(self, request: HttpRequest) -> dict:
        data = super().parse_body(request)
        if holds_unstorable_text(data):
            raise HttpError(400, UNSTORABLE)
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> dict:
        result = super().parse_querydict(data, list_fields, request)
        if holds_unstorable_text(result):
            raise HttpError(400, UNSTORABLE)
        return result


api = NinjaAPI(
    title="Sparkroom API", version="1.0", auth=django_auth, urls_namespace="api", parser=StorableTextParser()
)


@api.exception_handler(OverflowError)
def number_out_of_range(request: HttpRequest, exc: OverflowError):
    # An id beyond the database's 64-bit integers (SQLite raises where PostgreSQL finds nothing) names nothing.
    return api.create_response(request, {"detail": "a number in the request is out of range"}, status=400)


for app in settings.INSTALLED_APPS:
    if not app.startswith("workspace."):
        continue
    try:
        module = importlib.import_module(f"{app}.api")
    except ModuleNotFoundError as exc:
        if exc.name != f"{app}.api":
            raise
        continue
    api.add_router(getattr(module, "PREFIX", ""), module.router)
