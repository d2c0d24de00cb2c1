"""Team pairing and the live dashboard in real browsers: invite → sign up → join → follow → chat."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.support.browser import (  # noqa: F401 - `browser` fixture
    browser_fixture,
    login,
    new_page,
    open_editor,
    run_orm,
    screenshot,
)
from tests.support.helpers import PASSWORD, make_user
from tests.support.history_data import make_spark
from workspace.collab.files import create_file_with_text
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_FILE = "".join(f"line_{n} = {n}\n" for n in range(1, 201))


@pytest.fixture
def owner_workspace(db):
    alice = make_user("alice")
    workspace = create_workspace(alice, "Pairing")
    main = create_file_with_text(workspace, "src/main.py", "print('hi')\n")
    notes = create_file_with_text(workspace, "src/long.py", LONG_FILE)
    return workspace, main, notes


# Records the workspace-channel traffic of a page, printed when a step fails (helps tell a UI bug from a lost event).
WS_LOG = """
const Native = window.WebSocket;
window.__wsLog = [];
window.WebSocket = class extends Native {
  constructor(url, protocols) {
    super(url, protocols);
    if (!String(url).includes('/ws/workspace/')) return;
    const log = (line) => window.__wsLog.push(String(line).slice(0, 200));
    this.addEventListener('message', (event) => log(event.data));
    this.addEventListener('close', (event) => log(`CLOSE ${event.code}`));
    const send = this.send.bind(this);
    this.send = (data) => {
      log(`SENT ${data}`);
      send(data);
    };
  }
};
"""


@contextmanager
def traffic_on_failure(**pages):
    try:
        yield
    except Exception:
        for name, page in pages.items():
            screenshot(page, f"team-failure-{name}")
            print(f"{name} workspace-channel traffic:", page.evaluate("JSON.stringify(window.__wsLog || [])")[-4000:])
        raise


def open_team_tab(page) -> None:
    page.click('[data-testid="panel-tab-team"]')
    page.wait_for_selector('[data-testid="panel-team"]:not([hidden])')


def test_invite_signup_join_follow_and_chat_both_ways(owner_workspace, live_server_url, browser):
    workspace, main, notes = owner_workspace
    alice = new_page(browser)
    alice.add_init_script(WS_LOG)
    login(alice, live_server_url, "alice")
    open_editor(alice, live_server_url, workspace.id, main.id)
    open_team_tab(alice)
    alice.select_option('[data-testid="invite-role"]', "editor")
    alice.click('[data-testid="invite-create"]')
    alice.wait_for_function("() => document.querySelector('[data-testid=invite-url]').value.includes('/teams/invite/')")
    invite_url = alice.input_value('[data-testid="invite-url"]')

    bob = new_page(browser)
    bob.add_init_script(WS_LOG)
    bob.goto(invite_url)
    assert "Pairing" in bob.text_content('[data-testid="invite-page"]')
    bob.click('[data-testid="invite-signup"]')
    bob.fill("input[name=username]", "bob")
    bob.fill("input[name=password1]", PASSWORD)
    bob.fill("input[name=password2]", PASSWORD)
    with bob.expect_navigation():
        bob.click("button[type=submit]")
    assert "/teams/invite/" in bob.url
    with bob.expect_navigation():
        bob.click('[data-testid="accept-invite"]')
    assert bob.url.rstrip("/").endswith(f"/w/{workspace.id}") or f"/w/{workspace.id}/" in bob.url
    bob.wait_for_function("() => window.sparkroomReady === true")
    assert bob.text_content('[data-testid="role-badge"]').strip() == "editor"

    # Alice sees Bob arrive in her Team panel, with his colour and file.
    with traffic_on_failure(alice=alice, bob=bob):
        follow_and_chat(alice, bob, notes)


def follow_and_chat(alice, bob, notes) -> None:
    alice.wait_for_selector('[data-testid="team-person-bob"]')
    open_team_tab(bob)
    bob.click('[data-testid="follow-alice"]')
    bob.wait_for_selector('[data-testid="following-banner"]:not([hidden])')

    # Alice moves to another file and down to line 150: Bob's editor follows file, cursor and scroll.
    alice.evaluate(f"window.sparkroom.openFile({notes.id})")
    alice.wait_for_function("() => window.sparkroom.isSynced()")
    alice.evaluate(
        """() => {
            const ed = window.sparkroom.editor;
            ed.setPosition({ lineNumber: 150, column: 3 });
            ed.revealLineInCenter(150);
        }"""
    )
    bob.wait_for_function(f"() => window.sparkroom.currentFile()?.id === {notes.id}")
    bob.wait_for_function("() => window.sparkroom.editor.getPosition()?.lineNumber === 150")
    alice_scroll = alice.evaluate("window.sparkroom.editor.getScrollTop()")
    assert alice_scroll > 0
    bob.wait_for_function(f"() => Math.abs(window.sparkroom.editor.getScrollTop() - {alice_scroll}) < 2")
    alice.wait_for_function("() => document.querySelector('[data-testid=team-file-bob]').textContent === 'src/long.py'")

    # Chat both ways; it persists across a reload.
    bob.fill('[data-testid="chat-input"]', "hi alice, following you")
    bob.click('[data-testid="chat-send"]')
    alice.wait_for_selector('[data-testid="chat-message"]:has-text("hi alice, following you")')
    alice.fill('[data-testid="chat-input"]', "welcome bob")
    alice.press('[data-testid="chat-input"]', "Enter")
    bob.wait_for_selector('[data-testid="chat-message"]:has-text("welcome bob")')
    screenshot(alice, "team-panel-owner")
    bob.reload()
    bob.wait_for_function("() => window.sparkroomReady === true")
    open_team_tab(bob)
    bob.wait_for_selector('[data-testid="chat-message"]:has-text("welcome bob")')

    # The owner makes Bob a viewer: Bob is told at once, and the server refuses his edits from now on.
    alice.select_option('[data-testid="member-role-bob"]', "viewer")
    bob.wait_for_selector('[data-testid="toast"]:has-text("Your role is now viewer")')
    refused = bob.evaluate(
        "window.sparkroom.ws.request('spark.request', {file_id: 1, mode: 'insert'}).then(() => 'ok', (e) => e.message)"
    )
    assert "needs the editor role" in refused
    assert alice.page_errors == [] and bob.page_errors == []  # type: ignore[attr-defined]


def test_dashboard_updates_live_when_a_request_finishes(owner_workspace, live_server_url, browser):
    from workspace.broadcast import broadcast_to_workspace

    workspace, main, _ = owner_workspace
    page = new_page(browser)
    login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/history/w/{workspace.id}/")
    page.wait_for_selector('[data-testid="history-live"][data-status="connected"]')
    page.wait_for_selector('[data-testid="pager-info"]:has-text("0 records")')

    def finish_request() -> int:
        from django.contrib.auth import get_user_model

        alice = get_user_model().objects.get(username="alice")
        request = make_spark(workspace, alice, file=main, status="streaming", prompt="explain main", ttft_ms=85.0)
        event = {"kind": "spark", "id": request.id, "status": "streaming"}
        broadcast_to_workspace(workspace.id, "history.updated", event)
        return request.id

    request_id = run_orm(finish_request)
    row = f'[data-testid="history-row"][data-kind="spark"][data-id="{request_id}"]'
    page.wait_for_selector(f'{row}[data-status="streaming"]')

    def mark_done() -> None:
        from workspace.spark.models import SparkRequest

        SparkRequest.objects.filter(id=request_id).update(status="done", tokens=12, duration_ms=400.0)
        broadcast_to_workspace(workspace.id, "history.updated", {"kind": "spark", "id": request_id, "status": "done"})

    run_orm(mark_done)
    page.wait_for_selector(f'{row}[data-status="done"]')
    page.wait_for_selector('[data-testid="history-summary"]:has-text("Spark success 100%")')
    assert page.locator('[data-testid="chart-ttft"] rect').count() >= 1
    screenshot(page, "history-dashboard")

    # Filters narrow the table (and stay in the URL); the detail page shows the prompt.
    page.fill('[data-testid="history-filters"] input[name=q]', "no such prompt")
    page.click('[data-testid="history-filters"] button[type=submit]')
    page.wait_for_selector('[data-testid="pager-info"]:has-text("0 records")')
    assert "q=no+such+prompt" in page.url
    page.fill('[data-testid="history-filters"] input[name=q]', "EXPLAIN")
    page.select_option('[data-testid="history-filters"] select[name=mode]', "insert")
    page.click('[data-testid="history-filters"] button[type=submit]')
    page.wait_for_selector('[data-testid="pager-info"]:has-text("1 record")')
    with page.expect_navigation():
        page.click(f"{row} a")
    assert "explain main" in page.text_content('[data-testid="detail-prompt"]')
    assert page.page_errors == []  # type: ignore[attr-defined]
