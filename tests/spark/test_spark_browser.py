"""Spark in real browsers: Alice asks for an edit with Ctrl+K, Bob sees the text appear live with the AI cursor."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    editor_text,
    login,
    new_page,
    open_editor,
    screenshot,
    server_text,
    wait_for_editor_text,
    wait_for_text_equal,
)
from tests.support.fake_openai import FakeModelServer, FakeResponse
from tests.support.helpers import make_member, make_user
from workspace.collab.files import create_file_with_text
from workspace.projects.models import Role
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORIGINAL = "def main():\n    print('hi')\n"
TOKENS = ["# spark", " wrote", " this", "\n"] + [f"step_{i} = {i}\n" for i in range(30)]


@pytest.fixture(scope="module")
def fake_model():
    with FakeModelServer(tokens_per_second=25, model="fake-spark") as server:
        yield server


@pytest.fixture(scope="module")
def spark_server_url(django_db_setup, django_db_blocker, fake_model):
    """A Daphne process whose Spark mode talks to the fake model server."""
    from tests.support.live import daphne_server

    if not settings.REDIS_URL:
        pytest.skip("live server tests need PostgreSQL + Redis")
    (settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    with daphne_server(SPARK_BASE_URL=fake_model.base_url, SPARK_MODEL="fake-spark", SPARK_API_KEY="") as url:
        yield url


@pytest.fixture
def team(db):
    alice, bob = make_user("alice"), make_user("bob")
    workspace = create_workspace(alice, "Team")
    make_member(workspace, bob, Role.EDITOR)
    return workspace, create_file_with_text(workspace, "src/main.py", ORIGINAL)


def editor(browser, url: str, username: str, workspace_id: int, file_id: int):
    page = new_page(browser)
    login(page, url, username)
    return open_editor(page, url, workspace_id, file_id)


def ask_with_ctrl_k(page, instruction: str) -> None:
    page.click(".monaco-editor .view-lines", position={"x": 5, "y": 5})
    page.keyboard.press("Control+End")
    page.keyboard.press("Control+k")
    page.get_by_test_id("spark-inline-input").fill(instruction)
    page.get_by_test_id("spark-inline-input").press("Enter")


AI_CLIENT_JS = """() => {
    for (const [id, state] of window.sparkroom.getAwareness().getStates())
        if (state.user && state.user.name === 'Spark AI') return id;
    return null;
}"""


def test_alice_asks_for_an_edit_and_bob_sees_it_stream_in_then_accept_and_reject(
    team, fake_model, spark_server_url, browser
):
    workspace, node = team
    alice = editor(browser, spark_server_url, "alice", workspace.id, node.id)
    bob = editor(browser, spark_server_url, "bob", workspace.id, node.id)
    # The stream pauses after a few lines until Bob has seen it mid-way (a busy machine must not outrun the asserts).
    midway = threading.Event()
    try:
        fake_model.script(FakeResponse(tokens=TOKENS, hold=midway, hold_after=8))
        ask_with_ctrl_k(alice, "add steps")
        # Bob sees the first tokens while the model is still streaming, with the AI's named cursor.
        wait_for_editor_text(bob, "text.includes('# spark wrote this')")
        bob.get_by_test_id("spark-bar").wait_for()
        assert bob.get_by_test_id("spark-bar").get_attribute("data-status") == "streaming"
        assert not editor_text(bob).endswith("step_29 = 29\n")
        bob.wait_for_function(f"({AI_CLIENT_JS})() !== null")
        ai_id = bob.evaluate(f"({AI_CLIENT_JS})()")
        bob.wait_for_selector(f".yRemoteSelectionHead-{ai_id}", state="attached")
        assert "streaming" in bob.get_by_test_id("spark-bar").get_attribute("data-status")
        bob.wait_for_function(
            "() => document.querySelector('[data-testid=spark-figures]').textContent.includes('tok/s')"
        )
        screenshot(bob, "spark-streaming-seen-by-bob")
        midway.set()

        expected = ORIGINAL + "".join(TOKENS)
        wait_for_text_equal(bob, expected)
        wait_for_text_equal(alice, expected)
        alice.get_by_test_id("spark-accept").click()
        alice.get_by_test_id("spark-bar").wait_for(state="hidden")
        bob.wait_for_function(f"({AI_CLIENT_JS})() === null")
        assert server_text(alice, spark_server_url, node.id) == expected

        fake_model.script(FakeResponse(tokens=["x = 1\n"] * 5))
        ask_with_ctrl_k(bob, "more")
        bob.get_by_test_id("spark-reject").wait_for()
        wait_for_editor_text(alice, "text.endsWith('x = 1\\n'.repeat(5))")
        bob.get_by_test_id("spark-reject").click()
        wait_for_text_equal(alice, expected)
        wait_for_text_equal(bob, expected)
        assert alice.page_errors == [] and bob.page_errors == []
    finally:
        midway.set()
        alice.context.close()
        bob.context.close()
