"""Content-Security-Policy on every HTML response.

Scripts only from the site's own files (no inline script or handler anywhere in the templates; the page
config travels as `json_script`, which is data, not code), Monaco's workers from /static/dist/, network
connections to the site itself and its own ws/wss endpoint, no plugins, no framing, no foreign <base>.
Styles allow 'unsafe-inline': Monaco and y-monaco create <style> elements at run time (themes, the colour
of each collaborator's cursor). `settings.CONTENT_SECURITY_POLICY` ("directive sources; ...") replaces the
directives it names.
"""

from __future__ import annotations

from functools import lru_cache

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

DEFAULT_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "worker-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


@lru_cache(maxsize=8)
def policy_directives(overrides: str) -> tuple[tuple[str, str], ...]:
    """The default policy with the directives named in `overrides` ("name sources; name sources") replaced."""
    policy = dict(DEFAULT_POLICY)
    for part in overrides.split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            policy[name.lower()] = sources.strip()
    return tuple(policy.items())


def policy_for(request: HttpRequest) -> str:
    """The header value for `request`: connect-src also names the site's own WebSocket origin."""
    directives = dict(policy_directives(settings.CONTENT_SECURITY_POLICY))
    try:
        host = request.get_host()
    except DisallowedHost:
        host = ""
    if host and "connect-src" in directives:
        websocket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        directives["connect-src"] = f"{directives['connect-src']} {websocket}".strip()
    return "; ".join(f"{name} {sources}".strip() for name, sources in directives.items())


def apply_policy(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if HEADER not in response and response.get("Content-Type", "").startswith("text/html"):
        response[HEADER] = policy_for(request)
    return response


class ContentSecurityPolicyMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return apply_policy(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return apply_policy(request, await self.get_response(request))
