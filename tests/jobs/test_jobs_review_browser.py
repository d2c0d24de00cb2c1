"""The Jobs tab in a real browser: a queued job shows its place and is cancelled from the queue; the review shows a
deletion and a rename, and resolves conflicts hunk by hunk (the job's version, then an edited merge)."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    login,
    new_page,
    open_editor,
    run_orm,
    screenshot,
    server_text,
    wait_for_text_equal,
)
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.jobs.apply import apply_changeset
from workspace.jobs.changeset import build_changeset
from workspace.jobs.models import Job
from workspace.jobs.snapshot import materialise, take_snapshot
from workspace.jobs.tools import WorkspaceTools
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

CONF = "alpha = 1\nbeta = 2\ngamma = 3\ndelta = 4\nepsilon = 5\n"
LIVE = CONF.replace("alpha = 1", "alpha = 100").replace("delta = 4", "delta = 400")


@pytest.fixture
def reviewed(user, tmp_path):
    """A succeeded job that changed conf.py (two conflicts with live edits, already applied), renamed util.py and
    deleted old.py; plus a running job and a queued one behind it."""
    workspace = create_workspace(user, "Review hunks", readme=False)
    conf = create_file_with_text(workspace, "conf.py", CONF)
    create_file_with_text(workspace, "util.py", "def f():\n    return 1\n")
    create_file_with_text(workspace, "old.py", "gone = True\n")
    snapshot = take_snapshot(workspace.id)
    tools = WorkspaceTools(materialise(snapshot, tmp_path / "scratch"))
    job_text = CONF.replace("alpha = 1", "alpha = 10").replace("delta = 4", "delta = 40")
    tools.call("write_file", {"path": "conf.py", "content": job_text})
    tools.call("move_file", {"path": "util.py", "new_path": "lib/util.py"})
    tools.call("delete_file", {"path": "old.py"})
    changeset = build_changeset(snapshot, tools.root, tools.written, tools.moved_from, tools.deleted)
    job = Job.objects.create(
        workspace=workspace, user=user, kind="agent", status="succeeded", prompt="tune", result={"changeset": changeset}
    )
    store.replace_text(conf.id, LIVE)
    apply_changeset(job, "alice", ["conf.py"])
    Job.objects.create(workspace=workspace, user=user, kind="tests", status="running", step="running")
    queued = Job.objects.create(workspace=workspace, user=user, kind="lint", status="queued", step="waiting")
    return workspace, conf, job, queued


def test_queue_place_and_cancel_then_per_hunk_resolution_in_the_review(reviewed, live_server_url, browser):
    workspace, conf, job, queued = reviewed
    page = new_page(browser)
    login(page, live_server_url, "alice")
    open_editor(page, live_server_url, workspace.id, conf.id)
    try:
        page.click("[data-testid=panel-tab-jobs]")
        waiting = page.locator(f"[data-testid=job-card][data-job-id='{queued.id}']")
        assert waiting.locator("[data-testid=job-queue-position]").inner_text() == "#1 in queue"
        waiting.locator("[data-testid=job-cancel]").click()
        page.locator(f"[data-testid=job-card][data-job-id='{queued.id}'][data-status=cancelled]").wait_for()
        assert run_orm(lambda: Job.objects.get(id=queued.id).status) == "cancelled"

        page.locator(f"[data-testid=job-card][data-job-id='{job.id}'] [data-testid=job-review]").click()
        review = page.locator("[data-testid=jobs-review]")
        files = review.locator("[data-testid=jobs-review-file]")
        files.first.wait_for()
        labels = files.all_inner_texts()
        assert any(t.startswith("lib/util.py") and "renamed from util.py" in t for t in labels), labels
        assert any(t.startswith("old.py") and "deleted" in t for t in labels), labels
        review.locator("[data-testid=jobs-review-file][data-path='conf.py']").click()
        conflicts = review.locator("[data-testid=jobs-conflict]")
        assert conflicts.count() == 2
        conflicts.nth(1).locator("[data-testid=jobs-conflict-theirs]").click()
        review.locator("[data-testid=jobs-conflict][data-resolved=theirs]").wait_for()
        wait_for_text_equal(page, LIVE.replace("delta = 400", "delta = 40"))

        first = review.locator("[data-testid=jobs-conflict]").first
        first.locator("[data-testid=jobs-conflict-edit-open]").click()
        first.locator("[data-testid=jobs-conflict-edit]").fill("alpha = 110\n")
        first.locator("[data-testid=jobs-conflict-save]").click()
        review.locator("[data-testid=jobs-conflict][data-resolved=edit]").wait_for()
        expected = "alpha = 110\nbeta = 2\ngamma = 3\ndelta = 40\nepsilon = 5\n"
        wait_for_text_equal(page, expected)
        assert server_text(page, live_server_url, conf.id) == expected
        review.locator("[data-testid=jobs-file-apply-status]").filter(has_text="applied").wait_for()
        screenshot(page, "jobs-review-hunks")

        review.locator("[data-testid=jobs-apply-all]").click()
        page.wait_for_function("() => !window.sparkroom.files().some((f) => f.path === 'old.py')")
        page.wait_for_function("() => window.sparkroom.files().some((f) => f.path === 'lib/util.py')")
        assert page.page_errors == []
    finally:
        page.context.close()


@pytest.fixture
def env_project(user):
    workspace = create_workspace(user, "Env panel", readme=False)
    return workspace, create_file_with_text(workspace, "sparkroom.toml", "[setup]\ncommand = 'make deps'\n")


def test_owner_sees_the_environment_file_s_problems_sets_a_secret_never_shown_back_and_allows_setup_network(
    env_project, live_server_url, browser
):
    workspace, node = env_project
    page = new_page(browser)
    login(page, live_server_url, "alice")
    open_editor(page, live_server_url, workspace.id, node.id)
    try:
        page.click("[data-testid=panel-tab-jobs]")
        page.click("[data-testid=jobs-env] summary")
        problems = page.locator("[data-testid=jobs-env-problems]")
        problems.wait_for()
        assert "[setup] cache must name what the setup produces" in problems.inner_text()
        page.fill("[data-testid=jobs-secret-name]", "REGISTRY_TOKEN")
        page.fill("[data-testid=jobs-secret-value]", "very-secret-value-123")
        page.click("[data-testid=jobs-secret-save]")
        page.locator("[data-testid=jobs-secret][data-name=REGISTRY_TOKEN]").wait_for()
        assert "very-secret-value-123" not in page.content()
        with page.expect_response(lambda r: r.request.method == "PUT" and r.url.endswith("/environment")) as saved:
            page.check("[data-testid=jobs-env-network]")
        assert saved.value.ok and saved.value.json()["setup_network"] is True
        from workspace.jobs import environment

        stored = run_orm(lambda: (environment.secret_values(workspace.id), environment.settings_for(workspace.id)))
        assert stored[0] == {"REGISTRY_TOKEN": "very-secret-value-123"} and stored[1].setup_network
        page.locator("[data-testid=jobs-secret-delete]").click()
        page.wait_for_function("() => document.querySelector('[data-testid=jobs-secret]') === null")
        assert page.page_errors == []
    finally:
        page.context.close()
