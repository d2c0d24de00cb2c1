"""The JSON API (/api/), with an OpenAPI schema at /api/openapi.json and docs at /api/docs.

Each app contributes a ninja Router from its own `api.py`; browsers authenticate with the session
cookie (CSRF checked), scripts with a personal API token if the accounts app provides one.
"""

from __future__ import annotations

import importlib

from django.conf import settings
from ninja import NinjaAPI
from ninja.security import django_auth

api = NinjaAPI(title="Sparkroom API", version="1.0", auth=django_auth, urls_namespace="api")

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
