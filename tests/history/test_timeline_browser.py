"""The History tab in real browsers: a file written yesterday and edited today; Alice and Bob type; Bob opens the
diff of yesterday's version against the live text, restores one hunk of it, and Alice sees that line go back live
with her and Bob's typing kept; Bob undoes the restore and Alice sees the line come back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.browser import (  # noqa: F401 - `browser` fixture
    browser_fixture,
    login,
    new_page,
    open_editor,
    screenshot,
    type_in_editor,
    wait_for_editor_text,
)
from tests.support.file_history import time_all, write
from tests.support.helpers import make_member, make_user
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.files import create_file_with_text
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

YESTERDAY = "def a():\n    return 1\n\n\ndef b():\n    return 3\n"


@pytest.fixture
def pairing(db):
    alice, bob = make_user("alice"), make_user("bob")
    workspace = create_workspace(alice, "History")
    make_member(workspace, bob, Role.EDITOR)
    node = create_file_with_text(workspace, "main.py", YESTERDAY)
    time_all(node.id, timezone.now() - timedelta(days=1))

    def today(text) -> None:
        content = str(text)
        for old, new in (("return 3", "return 30"), ("return 1", "return 10")):
            start = len(content[: content.index(old)].encode("utf-8"))
            del text[start : start + len(old)]
            text.insert(start, new)
            content = str(text)

    write(node.id, Author(alice.id, HUMAN), today, timezone.now() - timedelta(hours=1))
    return workspace, node


def test_bob_restores_one_hunk_of_yesterdays_version_and_alice_sees_it_live(pairing, live_server_url, browser):
    workspace, node = pairing
    pages = {}
    for name in ("alice", "bob"):
        page = pages[name] = new_page(browser)
        login(page, live_server_url, name)
        open_editor(page, live_server_url, workspace.id, node.id)
    alice, bob = pages["alice"], pages["bob"]
    try:
        type_in_editor(alice, "# alice\n")
        wait_for_editor_text(bob, "text.includes('# alice')")
        type_in_editor(bob, "# bob\n")
        wait_for_editor_text(alice, "text.includes('# bob')")

        bob.click('[data-testid="panel-tab-history"]')
        bob.wait_for_function("() => document.querySelectorAll('[data-testid=history-version]').length >= 2")
        oldest = bob.locator('[data-testid="history-version"]').last
        assert "Sparkroom" in oldest.inner_text()  # the file's creation, yesterday
        oldest.locator('[data-testid="history-open"]').click()
        bob.wait_for_function("() => document.querySelectorAll('[data-testid=history-hunk]').length === 2")
        # Hunks in order: line 2 (return 10); line 6 (return 30) with the two lines typed after it.
        bob.locator('[data-testid="history-restore-hunk"]').first.click()

        wait_for_editor_text(alice, "text.includes('    return 1\\n')")
        text = alice.evaluate("window.sparkroom.getText()")
        assert "return 30" in text and text.endswith("# alice\n# bob\n")

        bob.wait_for_selector('[data-testid="history-undo"]:not([hidden])')
        bob.click('[data-testid="history-undo"]')
        wait_for_editor_text(alice, "text.includes('return 10')")
        assert alice.evaluate("window.sparkroom.getText()").endswith("# alice\n# bob\n")
    except Exception:
        for name, page in pages.items():
            screenshot(page, f"timeline-failure-{name}")
        raise
