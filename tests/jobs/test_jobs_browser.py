"""Deep mode in a real browser: start a job, watch its progress, review the diff, apply it over live edits."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    focus_editor,
    login,
    new_page,
    open_editor,
    screenshot,
    server_text,
    wait_for_text_equal,
)
from tests.support.fake_openai import FakeModelServer, FakeResponse
from workspace.collab.files import create_file_with_text
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ORIGINAL = "def main():\n    print('hi')\n"
PROPOSED = "def main():\n    print('hello from the job')\n"
FAKE_MODEL = "fake-deep"


@pytest.fixture
def project(user):
    workspace = create_workspace(user, "Browser jobs")
    node = create_file_with_text(workspace, "src/main.py", ORIGINAL)
    return workspace, node


@pytest.fixture
def fake_model():
    with FakeModelServer(tokens_per_second=2000, model=FAKE_MODEL) as server:
        yield server


@pytest.fixture
def worker(django_db_blocker, fake_model):
    from tests.support.live import celery_worker

    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    env = {"DEEP_BASE_URL": fake_model.base_url, "DEEP_MODEL": FAKE_MODEL, "JOB_HEARTBEAT_SECONDS": "0.5"}
    with django_db_blocker.unblock(), celery_worker(concurrency=1, **env) as proc:
        yield proc


def test_start_a_job_watch_progress_review_the_diff_and_apply_it_over_live_edits(
    project, fake_model, worker, live_server_url, browser
):
    workspace, node = project
    fake_model.script(
        FakeResponse(
            content="Plan: read main.py, then change the greeting.",
            tool_calls=[{"name": "read_file", "arguments": {"path": "src/main.py"}}],
            tokens_per_second=3,
        ),
        FakeResponse(tool_calls=[{"name": "write_file", "arguments": {"path": "src/main.py", "content": PROPOSED}}]),
        FakeResponse(content="Changed the greeting."),
    )
    page = new_page(browser)
    login(page, live_server_url, "alice")
    open_editor(page, live_server_url, workspace.id, node.id)
    try:
        page.click("[data-testid=panel-tab-jobs]")
        page.fill("[data-testid=jobs-prompt]", "change the greeting")
        page.click("[data-testid=jobs-start]")
        card = page.locator("[data-testid=job-card]").first
        card.locator("[data-testid=job-log]").get_by_text("snapshot of").wait_for()
        card.locator("[data-testid=job-step]").filter(has_text="Step 1").wait_for()
        assert card.get_attribute("data-status") == "running"
        # A member edits while the job runs; the job's change must not overwrite it.
        focus_editor(page)
        page.keyboard.press("Control+Home")
        page.keyboard.type("# live edit\n")
        live = "# live edit\n" + ORIGINAL
        wait_for_text_equal(page, live)
        page.wait_for_selector("[data-testid=job-card][data-status=succeeded]", timeout=30_000)
        assert "out" in card.locator("[data-testid=job-tokens]").inner_text()
        screenshot(page, "jobs-panel")
        assert page.locator("[data-testid=job-log]").get_by_text("Plan: read main.py").count() == 1

        card.locator("[data-testid=job-review]").click()
        review = page.locator("[data-testid=jobs-review]")
        review.locator(".monaco-diff-editor").wait_for()
        assert review.locator("[data-testid=jobs-review-file]").all_inner_texts()[0].startswith("src/main.py")
        # Monaco renders spaces as no-break spaces.
        page.wait_for_function(
            "() => document.querySelector('[data-testid=jobs-diff]').innerText.replace(/\\u00a0/g, ' ')"
            ".includes(\"print('hello from the job')\")"
        )
        screenshot(page, "jobs-review")
        review.locator("[data-testid=jobs-apply-all]").click()
        review.locator("[data-testid=jobs-file-apply-status]").filter(has_text="applied").wait_for()
        expected = "# live edit\n" + PROPOSED
        wait_for_text_equal(page, expected)
        assert server_text(page, live_server_url, node.id) == expected
        assert review.locator("[data-testid=jobs-conflict]").count() == 0
        review.locator("[data-testid=jobs-review-close]").click()
        assert page.page_errors == []
    finally:
        page.context.close()
