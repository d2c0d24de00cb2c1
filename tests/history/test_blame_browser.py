"""The blame gutter in real browsers: Alice and Bob type, a server-side Spark-style writer inserts a function
(stored for its request), Bob edits one of its lines; in a third browser the gutter and summary show the three
authors, the model's untouched line as AI-written, unreviewed; the workspace dashboard shows the shares."""

from __future__ import annotations

import pytest

from tests.support.browser import (  # noqa: F401 - `browser` fixture
    browser_fixture,
    login,
    new_page,
    open_editor,
    run_orm,
    screenshot,
    type_in_editor,
    wait_for_editor_text,
)
from tests.support.helpers import make_member, make_user
from tests.support.history_data import make_spark
from workspace.collab import store
from workspace.collab.attribution import SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.merge import merge_into_file
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FUNCTION = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def pairing(db):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    workspace = create_workspace(alice, "Blame")
    make_member(workspace, bob, Role.EDITOR)
    make_member(workspace, carol, Role.VIEWER)
    node = create_file_with_text(workspace, "main.py", "")
    spark = make_spark(workspace, alice, file=node, model="fast-model", prompt="write add()")
    return workspace, node, alice, spark


def spark_inserts(node_id: int, user_id: int, request_id: int) -> None:
    before = store.load_text(node_id)
    merge_into_file(node_id, before, before + FUNCTION, "spark", Author(user_id, SPARK, "fast-model", str(request_id)))


def gutter_labels(page) -> list[str]:
    return page.eval_on_selector_all(
        ".view-lines .blame-label", "nodes => nodes.map(n => n.textContent.replace(/\\u00a0/g, ' '))"
    )


def test_the_gutter_in_a_third_browser_shows_two_people_and_the_model(pairing, live_server_url, browser):
    workspace, node, alice_user, spark = pairing
    pages = {}
    for name in ("alice", "bob", "carol"):
        page = pages[name] = new_page(browser)
        login(page, live_server_url, name)
        open_editor(page, live_server_url, workspace.id, node.id)
    try:
        type_in_editor(pages["alice"], "# alice\n")
        wait_for_editor_text(pages["bob"], "text.includes('# alice')")
        type_in_editor(pages["bob"], "# bob\n")
        wait_for_editor_text(pages["alice"], "text.includes('# bob')")
        run_orm(spark_inserts, node.id, alice_user.id, spark.id)
        wait_for_editor_text(pages["bob"], "text.includes('return a + b')")
        bob = pages["bob"]
        bob.keyboard.press("Control+End")
        bob.keyboard.press("ArrowUp")
        bob.keyboard.press("End")
        bob.keyboard.type("  # reviewed by bob")
        wait_for_editor_text(pages["carol"], "text.includes('# reviewed by bob')")

        carol = pages["carol"]
        carol.click('[data-testid="panel-tab-blame"]')
        carol.check('[data-testid="blame-toggle"]')
        carol.wait_for_function(
            "() => document.querySelectorAll('.view-lines .blame-label').length >= 4"
            " && [...document.querySelectorAll('.view-lines .blame-label')].some(n => n.textContent.includes('bob'))"
            " && [...document.querySelectorAll('[data-testid=blame-author]')].length === 3"
        )
        labels = gutter_labels(carol)
        assert labels[0].startswith("alice ")
        assert labels[1].startswith("bob ")
        assert labels[2].startswith("Spark · fast-model ") and labels[2].endswith(" · unreviewed")
        assert labels[3].startswith("bob ")
        summary = carol.inner_text('[data-testid="blame-summary"]')
        assert "AI-written, unreviewed: 1" in summary
        assert not carol.is_visible('[data-testid="blame-review"]')  # a viewer reads, editors review

        carol.goto(f"{live_server_url}/history/w/{workspace.id}/")
        carol.wait_for_selector('[data-testid="authorship-total"]')
        total = carol.inner_text('[data-testid="authorship-total"]')
        assert "Spark · fast-model 25%" in total and "unreviewed 1" in total
    except Exception:
        for name, page in pages.items():
            screenshot(page, f"blame-failure-{name}")
        raise
