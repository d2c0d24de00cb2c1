"""The shared terminal in real browsers: Alice runs a program and Bob (a viewer) watches it, cannot type, and is
told why; a reload replays the scrollback; a file a command writes appears in both file trees, and a file it
rewrites changes in both open editors."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    login,
    new_page,
    open_editor,
    screenshot,
    wait_for_text_equal,
)
from tests.support.helpers import make_member, make_user
from workspace.collab.files import create_file_with_text
from workspace.jobs import sandbox
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="bubblewrap not installed (make test installs it)"),
]

MAIN = "print('hello from main')\n"


@pytest.fixture
def team(db):
    alice, bob = make_user("alice"), make_user("bob")
    workspace = create_workspace(alice, "Team")
    make_member(workspace, bob, Role.VIEWER)
    node = create_file_with_text(workspace, "main.py", MAIN)
    return workspace, node


def editor_page(browser, base_url: str, username: str, workspace_id: int, file_id: int):
    page = new_page(browser)
    login(page, base_url, username)
    return open_editor(page, base_url, workspace_id, file_id)


def terminal_screen(page):
    """The rows of the terminal shown in the panel."""
    return page.locator(".terminal-view:not([hidden]) .xterm-rows")


def type_in_terminal(page, text: str) -> None:
    page.locator(".terminal-view:not([hidden]) .xterm-screen").click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_alice_runs_main_and_bob_watches_but_cannot_type(team, live_server_url, browser):
    workspace, node = team
    alice = editor_page(browser, live_server_url, "alice", workspace.id, node.id)
    bob = editor_page(browser, live_server_url, "bob", workspace.id, node.id)

    alice.get_by_test_id("run-file").click()
    expect(terminal_screen(alice)).to_contain_text("hello from main", timeout=20000)
    expect(terminal_screen(bob)).to_contain_text("hello from main", timeout=20000)
    expect(alice.get_by_role("tab", name="Run")).to_be_visible()

    type_in_terminal(alice, "python main.py")
    expect(bob.get_by_test_id("terminal-typing")).to_contain_text("alice is typing")
    expect(terminal_screen(bob)).to_contain_text("$ python main.py", timeout=10000)
    bob.wait_for_function(  # the Run's output and now the typed command's
        "() => document.querySelector('.terminal-view:not([hidden]) .xterm-rows').textContent"
        ".split('hello from main').length > 2",
        timeout=10000,
    )

    expect(bob.get_by_test_id("run-file")).to_be_disabled()
    type_in_terminal(bob, "echo bob-was-here")
    expect(bob.get_by_test_id("toast").filter(has_text="input needs the editor role")).to_be_visible()
    alice.wait_for_timeout(500)
    expect(terminal_screen(alice)).not_to_contain_text("bob-was-here")
    expect(terminal_screen(bob)).not_to_contain_text("bob-was-here")

    # The workspace's own Run command for Python files, used by the next Run (Ctrl+Enter in the editor).
    alice.once("dialog", lambda dialog: dialog.accept("python -u {path} --twice"))
    alice.get_by_test_id("run-command").click()
    expect(alice.get_by_test_id("toast").filter(has_text="Run command saved")).to_be_visible()
    alice.locator(".monaco-editor textarea").focus()
    alice.keyboard.press("Control+Enter")
    expect(terminal_screen(bob)).to_contain_text("python -u main.py --twice", timeout=10000)
    screenshot(bob, "terminal-panel-viewer")


def test_a_reload_replays_the_scrollback_and_written_files_appear_in_both_trees(team, live_server_url, browser):
    workspace, node = team
    alice = editor_page(browser, live_server_url, "alice", workspace.id, node.id)
    bob = editor_page(browser, live_server_url, "bob", workspace.id, node.id)

    alice.get_by_test_id("terminal-new").click()
    expect(terminal_screen(alice)).to_contain_text("/workspace $", timeout=20000)
    type_in_terminal(alice, "echo 'caf\u00e9 \u2603 re''played' && echo written > made.txt")  # '' : not the echo
    expect(terminal_screen(alice)).to_contain_text("caf\u00e9 \u2603 replayed")
    expect(alice.get_by_test_id("file-made.txt")).to_be_visible(timeout=10000)
    expect(bob.get_by_test_id("file-made.txt")).to_be_visible(timeout=10000)
    expect(bob.get_by_test_id("toast").filter(has_text="alice's command in Terminal")).to_contain_text("made.txt")

    # A file open in both editors, rewritten by a command: both live documents follow.
    type_in_terminal(alice, "echo \"print('from the terminal')\" > main.py")
    wait_for_text_equal(bob, "print('from the terminal')\n")
    wait_for_text_equal(alice, "print('from the terminal')\n")

    alice.reload()
    alice.wait_for_function("() => window.sparkroomReady === true")
    expect(terminal_screen(alice)).to_contain_text("caf\u00e9 \u2603 replayed", timeout=10000)
    alice.get_by_test_id("file-made.txt").click()
    expect(alice.get_by_test_id("open-file-path")).to_contain_text("made.txt")
