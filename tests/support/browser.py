"""Shared Playwright helpers for browser tests (sync API: write browser tests as plain `def` tests).

Make the `browser` fixture available in a test module with
`from tests.support.browser import browser_fixture  # noqa: F401` and use it with the `live_server_url` fixture
and `@pytest.mark.django_db(transaction=True)` (the users and workspaces must be committed).

Playwright's sync API marks its own asyncio loop as *running* in the main thread while it is started.
Two consequences shape this module: the `browser` fixture is function-scoped (a session-wide one would
make every later async test fail with "Cannot run the event loop while another loop is running"), and
Django refuses ORM calls while a browser is open (SynchronousOnlyOperation). So create users and
workspaces in fixtures listed *before* `browser` in the test's arguments, and wrap ORM calls made
while the browser is open in `run_orm(func, ...)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support.helpers import PASSWORD

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
DEFAULT_TIMEOUT_MS = 20_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

T = TypeVar("T")


def run_orm(func: Callable[..., T], *args, **kwargs) -> T:
    """Run ORM code while a browser is open: in a worker thread, which has no running asyncio loop."""

    def call() -> T:
        from django.db import connection

        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture(name="browser")
def browser_fixture(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=os.environ.get("HEADED") != "1"
        )
        yield chromium
        chromium.close()


def new_page(browser: Browser, **context_options) -> Page:
    """A page in a fresh context (its own cookies) with a default timeout.

    Uncaught exceptions of the page are collected in `page.page_errors` (assert it stays empty).
    """
    context = browser.new_context(viewport={"width": 1400, "height": 850}, **context_options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    page.page_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))  # type: ignore[attr-defined]
    return page


def login(target: BrowserContext | Page, base_url: str, username: str, password: str = PASSWORD) -> Page:
    """Log in through the real login form; returns the page (a new one when given a context)."""
    page = target.new_page() if isinstance(target, BrowserContext) else target
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if "/accounts/login/" in page.url:
        raise AssertionError(f"login as {username} failed: still on {page.url}")
    return page


def open_editor(page: Page, base_url: str, workspace_id: int, file_id: int | None = None) -> Page:
    """Load /w/<id>/ (optionally ?file=<id>) and wait until the editor is ready and the file synced."""
    query = f"?file={file_id}" if file_id is not None else ""
    page.goto(f"{base_url}/w/{workspace_id}/{query}")
    page.wait_for_function("() => window.sparkroomReady === true")
    if file_id is not None:
        page.wait_for_function("() => window.sparkroom.isSynced()")
    return page


def focus_editor(page: Page) -> None:
    # Click inside the first line: the centre of .view-lines can lie under other panes.
    page.click(".monaco-editor .view-lines", position={"x": 5, "y": 5})


def type_in_editor(page: Page, text: str, at_end: bool = True) -> None:
    """Focus Monaco and type like a user: at the end of the text, or where the click put the cursor."""
    focus_editor(page)
    if at_end:
        page.keyboard.press("Control+End")
    page.keyboard.type(text)


def editor_text(page: Page) -> str:
    return page.evaluate("window.sparkroom.editor.getModel()?.getValue() ?? ''")


def wait_for_editor_text(page: Page, predicate_js: str) -> None:
    """Wait until `predicate_js` (an expression over `text`) holds for the open model's text."""
    page.wait_for_function(f"() => {{ const text = window.sparkroom.getText(); return {predicate_js}; }}")


def wait_for_text_equal(page: Page, expected: str) -> None:
    """Wait until the open file's text is exactly `expected` (remote edits arrive in several frames)."""
    try:
        page.wait_for_function("(expected) => window.sparkroom.getText() === expected", arg=expected)
    except PlaywrightTimeoutError:
        actual = page.evaluate("window.sparkroom.getText()")
        raise AssertionError(f"editor text never became {expected!r}; it is {actual!r}") from None


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def server_text(page: Page, base_url: str, file_id: int) -> str:
    """The file's text as the server stores it, fetched with the page's session."""
    response = page.request.get(f"{base_url}/api/files/{file_id}/text")
    assert response.ok, response.text()
    return response.json()["text"]


def remote_cursor_label(page: Page, client_id: int) -> str | None:
    """The name label (CSS ::after content) of another client's cursor head, or None if not rendered."""
    return page.evaluate(
        """(cid) => {
            const head = document.querySelector(`.yRemoteSelectionHead-${cid}`);
            return head ? getComputedStyle(head, '::after').content : null;
        }""",
        client_id,
    )
