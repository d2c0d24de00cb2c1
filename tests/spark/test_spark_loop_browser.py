"""The Spark loop in real browsers: ghost-text completions (appear, Tab accepts, a keystroke cancels), a follow-up
that two users see replace the pending region, a reload that keeps the bar, Reject after the web process restarted,
and "Take this to Deep"."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from tests.spark.test_spark_browser import ask_with_ctrl_k, editor
from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    editor_text,
    run_orm,
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


@pytest.fixture(scope="module")
def fake_model():
    with FakeModelServer(tokens_per_second=50, model="fake-spark") as server:
        yield server


def spark_env(fake: FakeModelServer) -> dict[str, str]:
    return {"SPARK_BASE_URL": fake.base_url, "SPARK_MODEL": "fake-spark", "SPARK_API_KEY": "", "SPARK_FIM": "auto"}


@pytest.fixture(scope="module")
def spark_server_url(django_db_setup, django_db_blocker, fake_model):
    from tests.support.live import daphne_server

    if not settings.REDIS_URL:
        pytest.skip("live server tests need PostgreSQL + Redis")
    (settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    with daphne_server(**spark_env(fake_model)) as url:
        yield url


@pytest.fixture
def team(db, fake_model):
    fake_model.reset()
    fake_model.ttft = 0.0
    alice, bob = make_user("alice"), make_user("bob")
    workspace = create_workspace(alice, "Team")
    make_member(workspace, bob, Role.EDITOR)
    return workspace, create_file_with_text(workspace, "src/main.py", ORIGINAL)


def wait_until(condition, timeout: float = 10.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"{message} did not happen within {timeout} s")


def type_at_end(page, text: str) -> None:
    page.click(".monaco-editor .view-lines", position={"x": 5, "y": 5})
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


GHOST = ".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text"
# The ghost text's characters, whitespace left out (Monaco draws it in several elements, with non-breaking spaces).
GHOST_TEXT_JS = (
    "() => [...document.querySelectorAll('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text')]"
    ".map(n => n.textContent).join('').replace(/\\s+/g, '')"
)


def test_completions_appear_as_ghost_text_tab_accepts_and_a_keystroke_cancels(
    team, fake_model, spark_server_url, browser
):
    from workspace.spark.models import Completion

    workspace, node = team
    alice = editor(browser, spark_server_url, "alice", workspace.id, node.id)
    try:
        alice.get_by_test_id("spark-completions-toggle").wait_for(state="attached")
        assert alice.get_by_test_id("spark-completions-toggle").is_checked()
        # Every request typing may make gets this answer (a keystroke after a pause asks at once).
        fake_model.script_completion(*[FakeResponse(tokens=["(a, b)", ":\n", "    return a + b"])] * 8)
        type_at_end(alice, "\ndef add")
        alice.wait_for_selector(GHOST)
        alice.wait_for_function(f"() => ({GHOST_TEXT_JS})().includes('returna+b')")
        screenshot(alice, "spark-completion-ghost-text")
        assert "return a + b" not in editor_text(alice)  # ghost text is not in the document yet
        alice.keyboard.press("Tab")
        expected = ORIGINAL + "\ndef add(a, b):\n    return a + b"
        wait_for_text_equal(alice, expected)
        wait_until(lambda: server_text(alice, spark_server_url, node.id) == expected, message="the text stored")
        fim = [r for r in fake_model.requests if r["_path"] == "/v1/completions" and r.get("stream")]
        assert fim and fim[0]["prompt"].endswith("def add") and fim[0]["suffix"] == ""

        def accepted():
            return Completion.objects.filter(user__username="alice", outcome="accepted").first()

        wait_until(lambda: run_orm(accepted) is not None, message="the accepted completion recorded")
        row = run_orm(accepted)
        assert row.latency_ms is not None and row.latency_ms > 0 and row.fim

        # Ctrl+→ accepts a word of a suggestion, Esc dismisses it.
        wait_until(lambda: fake_model.open_streams() == 0, message="the requests after the accept ending")
        fake_model.reset()
        fake_model.script_completion(*[FakeResponse(tokens=["first", " second", " third"])] * 8)
        alice.wait_for_timeout(300)
        alice.keyboard.press("Enter")
        alice.keyboard.type("# ")
        alice.wait_for_function(f"() => ({GHOST_TEXT_JS})().includes('firstsecondthird')")
        alice.keyboard.press("Control+ArrowRight")
        wait_for_editor_text(alice, "text.endsWith('# first')")
        alice.keyboard.press("Escape")
        alice.wait_for_function(f"() => !({GHOST_TEXT_JS})().includes('third')")
        assert editor_text(alice).endswith("# first")

        def partial():
            return Completion.objects.filter(user__username="alice", outcome="partial").first()

        wait_until(lambda: run_orm(partial) is not None, message="the partly accepted completion recorded")

        # A keystroke while the model has not answered yet: the request is cancelled and its stream closed.
        wait_until(lambda: fake_model.open_streams() == 0, message="the requests after the accept ending")
        asked = len(fake_model.streams)
        fake_model.ttft = 5.0
        alice.wait_for_timeout(300)  # a pause: the next keystroke asks at once
        alice.keyboard.press("Enter")
        wait_until(lambda: len(fake_model.streams) > asked, message="a completion request")
        waiting = fake_model.streams[asked]
        alice.keyboard.type("x")
        wait_until(lambda: waiting.ended is not None, timeout=2.0, message="the model server seeing the cancel")
        assert waiting.closed_by_client and waiting.tokens_sent == 0
        assert fake_model.max_concurrent_streams() == 1
        assert alice.page_errors == []
    finally:
        fake_model.ttft = 0.0
        alice.context.close()


def test_two_users_see_a_follow_up_replace_the_pending_region_and_reject_restores_the_original(
    team, fake_model, spark_server_url, browser
):
    workspace, node = team
    alice = editor(browser, spark_server_url, "alice", workspace.id, node.id)
    bob = editor(browser, spark_server_url, "bob", workspace.id, node.id)
    try:
        fake_model.script(FakeResponse(tokens=["greeting = ", "'hello there, my friend'\n"]))
        ask_with_ctrl_k(alice, "add a greeting")
        alice.get_by_test_id("spark-accept").wait_for()
        wait_for_text_equal(bob, ORIGINAL + "greeting = 'hello there, my friend'\n")
        fake_model.script(FakeResponse(tokens=["greeting", " = ", "'", "h", "i", "'", "\n"], tokens_per_second=4))
        alice.get_by_test_id("spark-refine-input").fill("shorter")
        alice.get_by_test_id("spark-refine-input").press("Enter")
        # Bob sees the pending text go and the new one stream in at its place.
        bob.wait_for_selector("[data-testid=spark-bar][data-status=streaming]")
        wait_for_editor_text(bob, "!text.includes('my friend') && text.startsWith(" + repr(ORIGINAL + "greeting") + ")")
        wait_for_text_equal(bob, ORIGINAL + "greeting = 'hi'\n")
        bob.get_by_test_id("spark-reject").wait_for()
        assert bob.get_by_test_id("spark-thread").inner_text().splitlines() == ["add a greeting", "shorter"]
        screenshot(bob, "spark-refine-thread-seen-by-bob")
        bob.get_by_test_id("spark-reject").click()
        wait_for_text_equal(alice, ORIGINAL)
        wait_for_text_equal(bob, ORIGINAL)
        assert server_text(bob, spark_server_url, node.id) == ORIGINAL
        assert alice.page_errors == [] and bob.page_errors == []
    finally:
        alice.context.close()
        bob.context.close()


def test_a_reload_keeps_the_bar_of_a_pending_edit(team, fake_model, spark_server_url, browser):
    workspace, node = team
    alice = editor(browser, spark_server_url, "alice", workspace.id, node.id)
    try:
        fake_model.script(FakeResponse(tokens=["x = 1\n"]))
        ask_with_ctrl_k(alice, "add x")
        alice.get_by_test_id("spark-accept").wait_for()
        alice.reload()
        alice.wait_for_function("() => window.sparkroomReady === true && window.sparkroom.isSynced()")
        alice.get_by_test_id("spark-accept").wait_for()
        assert alice.get_by_test_id("spark-thread").inner_text() == "add x"
        alice.wait_for_selector(".spark-pending-region", state="attached")
        bob = editor(browser, spark_server_url, "bob", workspace.id, node.id)  # opened after the edit: sees it too
        bob.get_by_test_id("spark-accept").wait_for()
        bob.get_by_test_id("spark-accept").click()
        alice.get_by_test_id("spark-bar").wait_for(state="hidden")
        assert server_text(alice, spark_server_url, node.id) == ORIGINAL + "x = 1\n"
        assert alice.page_errors == [] and bob.page_errors == []
        bob.context.close()
    finally:
        alice.context.close()


def test_reject_works_after_the_web_process_was_restarted(team, fake_model, browser):
    from tests.support.live import daphne_server

    if not settings.REDIS_URL:
        pytest.skip("live server tests need PostgreSQL + Redis")
    workspace, node = team
    fake_model.script(FakeResponse(tokens=["# from ", "the ", "model ", "é😀\n"]))
    with daphne_server(**spark_env(fake_model)) as first:
        alice = editor(browser, first, "alice", workspace.id, node.id)
        ask_with_ctrl_k(alice, "add a comment")
        alice.get_by_test_id("spark-reject").wait_for()
        wait_for_text_equal(alice, ORIGINAL + "# from the model é😀\n")
    # The process that held the session is gone; a new one serves the page.
    with daphne_server(**spark_env(fake_model)) as second:
        page = alice.context.new_page()
        page.page_errors = []
        page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))
        page.goto(f"{second}/w/{workspace.id}/?file={node.id}")
        page.wait_for_function("() => window.sparkroomReady === true && window.sparkroom.isSynced()")
        page.get_by_test_id("spark-reject").wait_for()
        page.get_by_test_id("spark-reject").click()
        wait_for_text_equal(page, ORIGINAL)
        page.get_by_test_id("spark-bar").wait_for(state="hidden")
        assert server_text(page, second, node.id) == ORIGINAL
        assert page.page_errors == []
        alice.context.close()


def test_take_this_to_deep_creates_a_job_carrying_the_thread_and_its_card_links_back(
    team, fake_model, spark_server_url, browser
):
    from workspace.jobs.models import Job
    from workspace.spark.models import SparkRequest

    workspace, node = team
    alice = editor(browser, spark_server_url, "alice", workspace.id, node.id)
    try:
        fake_model.script(FakeResponse(tokens=["steps = [1, 2]\n"]))
        ask_with_ctrl_k(alice, "add steps")
        alice.get_by_test_id("spark-handover").wait_for()
        alice.get_by_test_id("spark-handover").click()
        link = alice.get_by_test_id("job-spark-link")
        link.wait_for()
        job = run_orm(lambda: Job.objects.get(workspace_id=workspace.id))
        spark = run_orm(lambda: SparkRequest.objects.get(workspace_id=workspace.id))
        assert job.kind == "agent" and "add steps" in job.prompt and "steps = [1, 2]" in job.prompt
        assert "src/main.py" in job.prompt and spark.handover_job_id == job.id
        assert link.get_attribute("href") == f"/history/spark/{spark.id}/"
        events = run_orm(lambda: list(job.events.values_list("message", flat=True)))
        assert f"handed over from Spark thread #{spark.id}" in events
        screenshot(alice, "spark-handover-job-card")
        assert alice.page_errors == []
    finally:
        alice.context.close()
