"""Checkpoints in real browsers: Alice creates a checkpoint from the Checkpoints tab, edits, restores it (after the
confirmation), and Bob sees the restored text live; a file deleted from the tree and restored from the tab's
deleted files reappears in both trees."""

from __future__ import annotations

import pytest

from tests.support.browser import (  # noqa: F401
    browser_fixture,
    login,
    new_page,
    open_editor,
    run_orm,
    screenshot,
    type_in_editor,
    wait_for_editor_text,
    wait_for_text_equal,
)
from tests.support.helpers import make_member, make_user
from workspace.collab.files import create_file_with_text
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

APP = "".join(f"line {n}\n" for n in range(1, 6))


@pytest.fixture
def project(db):
    def make():
        alice, bob = make_user("alice"), make_user("bob")
        workspace = create_workspace(alice, "Checkpoints in the browser", readme=False)
        make_member(workspace, bob, Role.EDITOR)
        node = create_file_with_text(workspace, "app.py", APP)
        create_file_with_text(workspace, "notes.md", "notes\n")
        return workspace, node

    return run_orm(make)


def test_a_restored_checkpoint_reaches_everyone_live_and_a_deleted_file_comes_back_in_both_trees(
    project, live_server_url, browser
):
    workspace, node = project
    alice, bob = new_page(browser), new_page(browser)
    for page, name in ((alice, "alice"), (bob, "bob")):
        login(page, live_server_url, name)
        open_editor(page, live_server_url, workspace.id, node.id)
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmations

    alice.click("[data-testid=panel-tab-checkpoints]")
    alice.fill("[data-testid=checkpoint-name]", "before the experiment")
    alice.click("[data-testid=checkpoint-create]")
    good = alice.locator("[data-testid=checkpoint]", has_text="before the experiment")
    good.wait_for()

    type_in_editor(alice, "# an experiment that went wrong\n")
    wait_for_editor_text(bob, "text.includes('went wrong')")
    good.locator("[data-testid=checkpoint-restore]").click()
    alice.locator("[data-testid=checkpoint-status][data-status=succeeded]").wait_for()
    for page in (alice, bob):
        wait_for_text_equal(page, APP)
    # The restore took an automatic checkpoint first (its undo), listed with its reason.
    alice.locator("[data-testid=checkpoint][data-kind=auto]", has_text="before restoring checkpoint").wait_for()
    screenshot(alice, "checkpoints-restored")

    row = alice.locator('[data-testid="file-notes.md"]')
    row.hover()
    row.locator("[data-action=delete]").click()
    for page in (alice, bob):
        page.locator('[data-testid="file-notes.md"]').wait_for(state="detached")
    deleted = alice.locator('[data-testid=deleted-file][data-path="notes.md"]')
    deleted.wait_for()
    assert "by alice" in deleted.inner_text()
    deleted.locator("[data-testid=deleted-file-restore]").click()
    for page in (alice, bob):
        page.locator('[data-testid="file-notes.md"]').wait_for()
    alice.locator('[data-testid=deleted-file][data-path="notes.md"]').wait_for(state="detached")
    screenshot(alice, "checkpoints-deleted-file-restored")
    assert alice.page_errors == bob.page_errors == []
