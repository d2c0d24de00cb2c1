"""ASGI entry point: HTTP through Django, WebSockets through Channels with session auth."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from workspace import edge  # noqa: E402
from workspace.consumer_base import websocket_auth  # noqa: E402
from workspace.origin import OriginCheckMiddleware  # noqa: E402
from workspace.routing import websocket_urlpatterns  # noqa: E402

# Daphne's shortcuts, each on only if its self-check passes here; under another server (uvicorn) nothing uses them.
edge.install()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Pages of other origins are refused before the handshake; native clients (no Origin) pass.
        "websocket": OriginCheckMiddleware(websocket_auth(URLRouter(websocket_urlpatterns))),
    }
)

if settings.CELERY_EMBEDDED_WORKER:
    from tasks.embedded import start_embedded_worker

    start_embedded_worker()
