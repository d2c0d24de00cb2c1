"""Issue #11 item 3: a WebSocket is accepted from the site's own origin (scheme, host and port), an exact
CSRF_TRUSTED_ORIGINS entry, or a native client sending no Origin, and from nothing else, DEBUG or not."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.browser import browser_fixture, login, new_page, open_editor  # noqa: F401 - the `browser` fixture
from tests.support.helpers import login_session_key
from workspace.origin import origin_allowed, parse_origin, site_origin


def scope(origin: str | list[str] | None, host: str | None = "127.0.0.1:8100", scheme: str = "ws", **extra) -> dict:
    headers = [] if host is None else [(b"host", host.encode())]
    origins = [] if origin is None else [origin] if isinstance(origin, str) else origin
    headers += [(b"origin", value.encode()) for value in origins]
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "path": "/ws/workspace/1", "scheme": scheme, "headers": headers}


# --- The comparison ---------------------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another local port (the attack of the issue)
        "https://127.0.0.1",  # https, default port
        "https://127.0.0.1:8100",  # same host and port, other scheme
        "http://127.0.0.1",  # port 80
        "http://[::1]:1234",
        "http://[::1]:8100",  # same port, another host (also allowed in ALLOWED_HOSTS)
        "http://localhost:8100",
        "null",
        "http://127.0.0.1:8100/path",
        "http://user@127.0.0.1:8100",
        "ws://127.0.0.1:8100",
        "http://127.0.0.1:99999",
    ],
)
def test_a_page_of_another_origin_is_refused_for_a_server_on_8100(origin):
    assert not origin_allowed(scope(origin))


@pytest.mark.embedded
def test_the_sites_own_origin_and_a_native_client_without_origin_are_accepted():
    assert origin_allowed(scope("http://127.0.0.1:8100"))
    assert origin_allowed(scope("HTTP://127.0.0.1:8100"))
    assert origin_allowed(scope(None))


@pytest.mark.embedded
def test_debug_accepts_no_other_origin(settings):
    settings.DEBUG = True
    assert not origin_allowed(scope("http://127.0.0.1:9999"))
    assert not origin_allowed(scope("https://evil.example"))
    assert origin_allowed(scope("http://127.0.0.1:8100"))


@pytest.mark.embedded
def test_ipv6_hosts_compare_by_address_and_port():
    assert origin_allowed(scope("http://[::1]:8100", host="[::1]:8100"))
    assert origin_allowed(scope("http://[0:0:0:0:0:0:0:1]:8100", host="[::1]:8100"))
    assert not origin_allowed(scope("http://[::1]:1234", host="[::1]:8100"))
    assert not origin_allowed(scope("http://127.0.0.1:8100", host="[::1]:8100"))
    assert parse_origin("http://[::1]") == ("http", "::1", 80)


@pytest.mark.embedded
def test_default_ports_are_filled_in_on_both_sides(settings):
    settings.ALLOWED_HOSTS = ["sparkroom.example.com"]
    assert origin_allowed(scope("https://sparkroom.example.com", host="sparkroom.example.com", scheme="wss"))
    assert origin_allowed(scope("https://sparkroom.example.com:443", host="sparkroom.example.com", scheme="wss"))
    assert origin_allowed(scope("https://sparkroom.example.com", host="sparkroom.example.com:443", scheme="wss"))
    assert origin_allowed(scope("http://sparkroom.example.com", host="sparkroom.example.com:80"))
    assert not origin_allowed(scope("http://sparkroom.example.com", host="sparkroom.example.com", scheme="wss"))
    assert not origin_allowed(scope("https://sparkroom.example.com", host="sparkroom.example.com"))
    assert not origin_allowed(scope("https://sparkroom.example.com:8443", host="sparkroom.example.com", scheme="wss"))


@pytest.mark.embedded
def test_a_host_outside_allowed_hosts_is_no_own_origin(settings):
    """DNS rebinding: the attacker's name pointing at the server makes Origin and Host agree."""
    settings.ALLOWED_HOSTS = ["sparkroom.example.com"]
    assert not origin_allowed(scope("http://rebound.example:8100", host="rebound.example:8100"))
    assert site_origin(scope(None, host="rebound.example:8100")) is None
    assert not origin_allowed(scope("http://127.0.0.1:8100", host=None))


@pytest.mark.embedded
def test_csrf_trusted_origins_are_matched_exactly(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://editor.example.com", "http://127.0.0.1:3000"]
    assert origin_allowed(scope("https://editor.example.com"))
    assert origin_allowed(scope("https://editor.example.com:443"))
    assert origin_allowed(scope("http://127.0.0.1:3000"))
    assert not origin_allowed(scope("http://editor.example.com"))
    assert not origin_allowed(scope("https://editor.example.com:8443"))
    assert not origin_allowed(scope("https://sub.editor.example.com"))
    assert not origin_allowed(scope("http://127.0.0.1:3001"))


@pytest.mark.embedded
def test_no_origin_is_trusted_by_default():
    assert settings.CSRF_TRUSTED_ORIGINS == []
    assert not origin_allowed(scope("http://127.0.0.1:8000", host="127.0.0.1:8100"))


@pytest.mark.embedded
def test_two_origin_headers_are_refused():
    assert not origin_allowed(scope(["http://127.0.0.1:8100", "http://127.0.0.1:9999"]))


@pytest.mark.embedded
def test_the_proxy_ssl_header_decides_the_scheme_when_configured(settings):
    settings.ALLOWED_HOSTS = ["sparkroom.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_tls = {"x-forwarded-proto": "https"}
    assert origin_allowed(scope("https://sparkroom.example.com", host="sparkroom.example.com", **behind_tls))
    assert not origin_allowed(scope("http://sparkroom.example.com", host="sparkroom.example.com", **behind_tls))
    plain = {"x-forwarded-proto": "http"}
    assert origin_allowed(scope("http://sparkroom.example.com", host="sparkroom.example.com", scheme="wss", **plain))
    assert origin_allowed(scope("http://sparkroom.example.com", host="sparkroom.example.com"))  # header absent
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not origin_allowed(scope("https://sparkroom.example.com", host="sparkroom.example.com", **behind_tls))


# --- Through the ASGI application -------------------------------------------------------------------------------


@pytest.fixture
def session_key(user) -> str:
    return login_session_key(user)


def communicator(path: str, session_key: str, origin: str | None) -> WebsocketCommunicator:
    from workspace.asgi import application

    headers = [(b"host", b"127.0.0.1:8100"), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("origin", ["http://127.0.0.1:9999", "https://127.0.0.1", "http://[::1]:1234"])
async def test_the_app_refuses_a_logged_in_users_socket_from_another_origin_before_accepting(
    workspace_with_file, session_key, origin
):
    workspace, node = workspace_with_file
    for path in (f"/ws/workspace/{workspace.id}", f"/ws/yjs/{node.id}", f"/ws/terminal/{workspace.id}"):
        comm = communicator(path, session_key, origin)
        try:
            connected, _ = await comm.connect()
            assert not connected
            assert await comm.receive_nothing(0.2)
        finally:
            await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("origin", ["http://127.0.0.1:8100", None])
async def test_the_app_accepts_its_own_origin_and_native_clients(workspace_with_file, session_key, origin):
    workspace, _ = workspace_with_file
    comm = communicator(f"/ws/workspace/{workspace.id}", session_key, origin)
    try:
        connected, _ = await comm.connect()
        assert connected
        output = await asyncio.wait_for(comm.output_queue.get(), 3)
        hello = json.loads(output["text"])
        assert hello["type"] == "hello" and hello["user"]["username"] == "alice"
    finally:
        await comm.disconnect()


# --- The live Daphne process ------------------------------------------------------------------------------------


@pytest.fixture
def victim(workspace_with_file, user):
    workspace, node = workspace_with_file
    return workspace, node, login_session_key(user)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_daphne_answers_403_to_the_handshake_of_a_page_on_another_port(victim, live_server_url):
    workspace, _, session_key = victim
    ws_url = live_server_url.replace("http://", "ws://") + f"/ws/workspace/{workspace.id}"
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"}

    async def attempt(origin: str | None) -> str:
        try:
            async with connect(ws_url, origin=origin, additional_headers=cookie, open_timeout=5) as socket:
                return json.loads(await asyncio.wait_for(socket.recv(), 5))["type"]
        except InvalidStatus as refused:
            return f"status {refused.response.status_code}"

    assert asyncio.run(attempt("http://127.0.0.1:9999")) == "status 403"
    assert asyncio.run(attempt("http://[::1]:1234")) == "status 403"
    assert asyncio.run(attempt(live_server_url)) == "hello"
    assert asyncio.run(attempt(None)) == "hello"


ATTACK_PAGE = """<!doctype html><title>attack</title><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket(%s);
  ws.onmessage = (event) => resolve("message " + JSON.parse(event.data).type);
  ws.onclose = (event) => resolve("closed " + event.code);
});
</script>"""


class AttackerSite:
    """A tiny HTTP server on another local port serving one page that opens a WebSocket to the app."""

    def __init__(self, ws_url: str) -> None:
        page = (ATTACK_PAGE % json.dumps(ws_url)).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AttackerSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_page_on_another_local_port_cannot_use_the_victims_session_while_the_app_still_connects(
    workspace_with_file, live_server_url, browser
):
    workspace, node = workspace_with_file
    page = new_page(browser)
    try:
        login(page, live_server_url, "alice")
        ws_url = live_server_url.replace("http://", "ws://")
        with AttackerSite(f"{ws_url}/ws/workspace/{workspace.id}") as attacker:
            attack = page.context.new_page()
            attack.goto(attacker.url)
            # The browser sends the victim's cookie (same site: ports do not count); the server must refuse.
            assert attack.evaluate("window.result") == "closed 1006"
            attack.close()
        open_editor(page, live_server_url, workspace.id, node.id)
        page.wait_for_selector("[data-testid=connection-status][data-status=connected]")
        assert page.page_errors == []
    finally:
        page.context.close()
