"""The terminal socket's route (collected by workspace.routing)."""

from __future__ import annotations

from django.urls import path

from workspace.terminals.consumers import TerminalConsumer

websocket_urlpatterns = [path("ws/terminal/<int:workspace_id>", TerminalConsumer.as_asgi())]
