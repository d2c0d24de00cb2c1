"""ASGI entry point: HTTP through Django, WebSockets through Channels with session auth."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from workspace import twisted_writes  # noqa: E402
from workspace.consumer_base import websocket_auth  # noqa: E402
from workspace.routing import websocket_urlpatterns  # noqa: E402

twisted_writes.install()


class BrowserOriginValidator(OriginValidator):
    """Cross-site browser pages are refused; native clients (pycrdt, node), which send no Origin, pass."""

    def valid_origin(self, parsed_origin) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


def allowed_origins() -> list[str]:
    return ["*"] if settings.DEBUG else [*settings.ALLOWED_HOSTS, *settings.CSRF_TRUSTED_ORIGINS]


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(websocket_auth(URLRouter(websocket_urlpatterns)), allowed_origins()),
    }
)

if settings.CELERY_EMBEDDED_WORKER:
    from tasks.embedded import start_embedded_worker

    start_embedded_worker()
