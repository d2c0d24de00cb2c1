"""WebSocket URL routes. Feature apps add theirs to `websocket_urlpatterns` in their own routing module."""

from __future__ import annotations

import importlib

from django.conf import settings
from django.urls import path, re_path

from workspace.collab.consumers import YjsConsumer
from workspace.realtime.consumers import WorkspaceConsumer

websocket_urlpatterns = [
    re_path(r"^ws/yjs/(?P<file_id>\d+)/?$", YjsConsumer.as_asgi()),
    path("ws/workspace/<int:workspace_id>", WorkspaceConsumer.as_asgi()),
]

for app in settings.INSTALLED_APPS:
    if app.startswith("workspace.") and app not in ("workspace.collab", "workspace.realtime"):
        try:
            module = importlib.import_module(f"{app}.routing")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.routing":
                raise
            continue
        websocket_urlpatterns += module.websocket_urlpatterns
