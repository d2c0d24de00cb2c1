"""Which browser pages may open Sparkroom's WebSockets (the one home of the WebSocket origin check).

Browsers send the session cookie with a WebSocket opened by any page of the same *site*, and a site ignores
the port: without this check a page on another local port could act as the logged-in user. An `Origin`
header is accepted only if it equals the site's own origin — scheme `http` for `ws` / `https` for `wss`
(or as `SECURE_PROXY_SSL_HEADER` says), host and port of the request's `Host` header, that host being in
`ALLOWED_HOSTS` — or is listed exactly in `CSRF_TRUSTED_ORIGINS`. `DEBUG` changes nothing. A request without
`Origin` comes from a native client (node y-websocket, pycrdt), which has no ambient cookie to abuse, and
passes. A refused socket is closed before the handshake completes, so Daphne answers 403 and no data flows.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # (scheme, host, port), lower case, IPv6 without brackets, default port filled in


def _canonical_host(host: str) -> str:
    host = host.lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_origin(value: str) -> Origin | None:
    """`scheme://host[:port]` as an Origin, or None if it is not one (`null`, a path, user info, bad port)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return scheme, _canonical_host(parts.hostname), port or DEFAULT_PORTS[scheme]


def _header(scope: dict, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name]


def _is_secure(scope: dict) -> bool:
    """Like Django's `HttpRequest.is_secure()`: the proxy header, when configured and present, decides."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        values = _header(scope, name)
        if values:
            return values[0].split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def site_origin(scope: dict) -> Origin | None:
    """The origin of the site this socket was opened on, or None when its Host header is missing or not allowed."""
    hosts = _header(scope, b"host")
    if len(hosts) != 1:
        return None
    domain, port = split_domain_port(hosts[0])
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if _is_secure(scope) else "http"
    try:
        number = int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, _canonical_host(domain), number


def trusted_origins() -> set[Origin]:
    return {origin for origin in map(parse_origin, settings.CSRF_TRUSTED_ORIGINS) if origin is not None}


def origin_allowed(scope: dict) -> bool:
    """True if a browser page of this origin may open this WebSocket (or no Origin was sent: a native client)."""
    values = _header(scope, b"origin")
    if not values:
        return True
    if len(values) > 1:
        return False
    origin = parse_origin(values[0])
    if origin is None:
        return False
    return origin == site_origin(scope) or origin in trusted_origins()


class OriginCheckMiddleware:
    """ASGI middleware: a WebSocket from a page of another origin is refused before the handshake (HTTP 403)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket" or origin_allowed(scope):
            await self.inner(scope, receive, send)
            return
        logger.warning("refused a WebSocket to %s from origin %s", scope.get("path"), _header(scope, b"origin"))
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close"})  # before accept: the server answers the handshake with 403
