"""The shared editor in real browsers: live text and cursors, read-only viewers, the live file tree."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    editor_text,
    login,
    new_page,
    open_editor,
    remote_cursor_label,
    run_orm,
    server_text,
    type_in_editor,
    wait_for_text_equal,
)
from tests.support.helpers import make_member, make_user
from workspace.collab.files import create_file_with_text
from workspace.projects.models import FileNode, Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORIGINAL = "def main():\n    print('hi')\n"
CONNECTION_IS = "(status) => document.querySelector('[data-testid=connection-status]').dataset.status === status"


@pytest.fixture
def team(db):
    owner, editor, viewer = make_user("alice"), make_user("bob"), make_user("carol")
    workspace = create_workspace(owner, "Team")
    make_member(workspace, editor, Role.EDITOR)
    make_member(workspace, viewer, Role.VIEWER)
    node = create_file_with_text(workspace, "src/main.py", ORIGINAL)
    return workspace, node


def editor_page(browser, base_url: str, username: str, workspace_id: int, file_id: int | None):
    page = new_page(browser)
    login(page, base_url, username)
    return open_editor(page, base_url, workspace_id, file_id)


def client_id(page) -> int:
    return page.evaluate("window.sparkroom.getDoc().clientID")


def test_two_editors_see_each_others_text_and_named_cursors_and_text_survives_reload(team, live_server_url, browser):
    workspace, node = team
    alice = editor_page(browser, live_server_url, "alice", workspace.id, node.id)
    bob = editor_page(browser, live_server_url, "bob", workspace.id, node.id)
    try:
        assert editor_text(alice) == ORIGINAL
        assert editor_text(bob) == ORIGINAL

        type_in_editor(alice, "# from alice\n")
        wait_for_text_equal(bob, ORIGINAL + "# from alice\n")
        type_in_editor(bob, "# from bob\n")
        both = ORIGINAL + "# from alice\n# from bob\n"
        wait_for_text_equal(alice, both)
        assert editor_text(alice) == editor_text(bob) == both

        alice_id, bob_id = client_id(alice), client_id(bob)
        alice.wait_for_selector(f".yRemoteSelectionHead-{bob_id}", state="attached")
        bob.wait_for_selector(f".yRemoteSelectionHead-{alice_id}", state="attached")
        assert remote_cursor_label(alice, bob_id) == '"bob"'
        assert remote_cursor_label(bob, alice_id) == '"alice"'
        alice.get_by_test_id("presence-bob").wait_for()
        bob.get_by_test_id("presence-alice").wait_for()
        assert alice.get_by_test_id("connection-status").get_attribute("data-status") == "connected"

        alice.reload()
        alice.wait_for_function("() => window.sparkroomReady === true && window.sparkroom.isSynced()")
        assert editor_text(alice) == both
        assert server_text(alice, live_server_url, node.id) == editor_text(alice)
        assert alice.page_errors == [] and bob.page_errors == []
    finally:
        alice.context.close()
        bob.context.close()


def test_viewer_gets_read_only_editor_and_cannot_change_the_text(team, live_server_url, browser):
    workspace, node = team
    carol = editor_page(browser, live_server_url, "carol", workspace.id, node.id)
    alice = editor_page(browser, live_server_url, "alice", workspace.id, node.id)
    try:
        assert carol.get_by_test_id("readonly-badge").is_visible()
        assert carol.get_by_test_id("role-badge").inner_text().lower() == "viewer"
        assert carol.evaluate("window.sparkroom.canEdit") is False
        assert carol.get_by_test_id("new-file").count() == 0

        type_in_editor(carol, "# viewer was here\n")
        carol.wait_for_timeout(500)
        assert editor_text(carol) == ORIGINAL
        # Even an edit forced into the viewer's document is refused by the server.
        carol.evaluate("window.sparkroom.getDoc().getText('content').insert(0, 'forced ')")
        type_in_editor(alice, "# owner edit\n")
        # The server stores an update before relaying it, so once the viewer has it, so has the database.
        wait_for_text_equal(carol, "forced " + ORIGINAL + "# owner edit\n")
        assert server_text(alice, live_server_url, node.id) == ORIGINAL + "# owner edit\n"
        assert editor_text(alice) == ORIGINAL + "# owner edit\n"
        assert carol.page_errors == []
    finally:
        carol.context.close()
        alice.context.close()


def test_file_tree_create_rename_delete_update_the_other_users_tree_live(team, live_server_url, browser):
    workspace, node = team
    alice = editor_page(browser, live_server_url, "alice", workspace.id, node.id)
    bob = editor_page(browser, live_server_url, "bob", workspace.id, node.id)
    try:
        alice.once("dialog", lambda dialog: dialog.accept("src/feature.py"))
        alice.get_by_test_id("new-file").click()
        alice.get_by_test_id("file-src/feature.py").wait_for()
        bob.get_by_test_id("file-src/feature.py").wait_for()
        alice.wait_for_function("() => window.sparkroom.currentFile()?.path === 'src/feature.py'")
        new_id = alice.evaluate("window.sparkroom.currentFile().id")
        assert f"file={new_id}" in alice.url
        assert run_orm(lambda: FileNode.objects.get(id=new_id).path) == "src/feature.py"

        alice.once("dialog", lambda dialog: dialog.accept("src/main.py"))
        alice.get_by_test_id("new-file").click()
        alice.get_by_test_id("toast").filter(has_text="already exists").wait_for()

        bob.get_by_test_id("file-src/feature.py").click()
        bob.wait_for_function("() => window.sparkroom.currentFile()?.path === 'src/feature.py'")

        row = alice.get_by_test_id("file-src/feature.py")
        row.hover()
        alice.once("dialog", lambda dialog: dialog.accept("src/renamed.py"))
        row.locator("[data-action=rename]").click()
        bob.get_by_test_id("file-src/renamed.py").wait_for()
        assert bob.get_by_test_id("file-src/feature.py").count() == 0
        bob.wait_for_function("() => window.sparkroom.currentFile()?.path === 'src/renamed.py'")
        assert bob.get_by_test_id("open-file-path").inner_text() == "src/renamed.py"

        row = alice.get_by_test_id("file-src/renamed.py")
        row.hover()
        alice.once("dialog", lambda dialog: dialog.accept())
        row.locator("[data-action=delete]").click()
        bob.get_by_test_id("file-src/renamed.py").wait_for(state="detached")
        assert not run_orm(lambda: FileNode.objects.filter(id=new_id).exists())
        bob.wait_for_function("() => window.sparkroom.currentFile() === null")
        alice.wait_for_function("() => window.sparkroom.currentFile() === null")

        bob.get_by_test_id("file-src").click()
        bob.get_by_test_id("file-src/main.py").wait_for(state="detached")
        bob.get_by_test_id("file-src").click()
        bob.get_by_test_id("file-src/main.py").wait_for()
        assert alice.page_errors == [] and bob.page_errors == []
    finally:
        alice.context.close()
        bob.context.close()


def test_plugin_api_replies_tabs_file_events_and_connection_status(team, live_server_url, browser):
    workspace, node = team
    alice = editor_page(browser, live_server_url, "alice", workspace.id, node.id)
    try:
        assert alice.evaluate("window.sparkroom.currentFile()") == {
            "id": node.id,
            "path": "src/main.py",
            "language": "python",
        }
        assert alice.evaluate("window.sparkroom.ws.request('presence.ping').then(r => r.type)") == "presence.ping.ok"
        error = alice.evaluate("window.sparkroom.ws.request('no.such.thing').then(() => 'resolved', e => e.message)")
        assert "unknown type" in error

        alice.evaluate("window.sparkroom.panels.addTab('demo', 'Demo').textContent = 'demo body'")
        assert alice.get_by_test_id("panel-tab-demo").inner_text() == "Demo"
        assert alice.get_by_test_id("panel-demo").inner_text() == "demo body"

        readme_id = alice.evaluate("window.sparkroom.files().find(f => f.path === 'README.md').id")
        events = alice.evaluate(
            """async (id) => {
                const seen = [];
                window.sparkroom.on('file-closed', (f) => seen.push(['closed', f.path]));
                window.sparkroom.on('file-opened', (f) => seen.push(['opened', f.path]));
                await window.sparkroom.openFile(id);
                return seen;
            }""",
            readme_id,
        )
        assert events == [["closed", "src/main.py"], ["opened", "README.md"]]
        assert f"file={readme_id}" in alice.url
        assert alice.evaluate("window.sparkroom.editor.getModel().getLanguageId()") == "markdown"

        status = alice.get_by_test_id("connection-status")
        alice.evaluate("window.sparkroom.getProvider().disconnect()")
        alice.wait_for_function(CONNECTION_IS, arg="disconnected")
        alice.evaluate("window.sparkroom.getProvider().connect()")
        alice.wait_for_function(CONNECTION_IS, arg="connected")
        assert status.inner_text().strip() == "connected"
        assert alice.page_errors == []
    finally:
        alice.context.close()
