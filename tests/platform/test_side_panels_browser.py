"""Every tab of the editor's side panel, at 1280 and 1920 px wide, with long content: nothing sticks out of the panel
(each visible element's box lies inside it, and the panel does not scroll sideways). Screenshots in test-artifacts."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    browser_fixture,  # noqa: F401 - the `browser` fixture
    login,
    new_page,
    open_editor,
    screenshot,
)
from tests.support.history_data import make_job
from workspace.collab.files import create_file_with_text
from workspace.jobs import environment
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

LONG = "refactor_the_configuration_loader_so_that_every_setting_is_validated_" * 3

# Elements whose box sticks out of the visible side panel, descending only into containers that do not clip
# (a scroll or ellipsis container is itself checked; what it clips is its own business).
OVERFLOWING_JS = """
() => {
  const panel = document.querySelector('.side-panel');
  const content = [...panel.querySelectorAll('.panel-content')].find((c) => !c.hidden);
  const box = panel.getBoundingClientRect();
  const out = [];
  const visit = (element) => {
    const rect = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (style.display === 'none' || style.visibility === 'hidden' || rect.width === 0) return;
    if (rect.left < box.left - 0.5 || rect.right > box.right + 0.5) {
      const name = `${element.tagName.toLowerCase()}.${element.className} [${element.dataset.testid ?? ''}]`;
      const where = `${Math.round(rect.left)}..${Math.round(rect.right)}`;
      out.push(`${name} ${where} outside ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
    if (style.overflowX !== 'visible') return;
    for (const child of element.children) visit(child);
  };
  visit(content);
  const body = panel.querySelector('.panel-body');
  if (body.scrollWidth > body.clientWidth + 1) {
    out.push(`panel body scrolls sideways: ${body.scrollWidth} > ${body.clientWidth}`);
  }
  return out;
}
"""


@pytest.fixture
def crowded_workspace(user):
    workspace = create_workspace(user, "Panels " + LONG[:40])
    node = create_file_with_text(workspace, "src/main.py", "print('hi')\n")
    create_file_with_text(workspace, "sparkroom.toml", f"[setup]\ncommand = '{LONG}'\n[{LONG}]\n")
    long_name = "A_VERY_LONG_SECRET_NAME_THAT_GOES_ON_AND_ON_FOR_SIXTY_FOUR_CHARS"
    environment.set_secret(workspace.id, long_name, "x" * 20, user)
    big = {"tokens_in": 123_456_789, "tokens_out": 98_765_432, "cost_usd": "12345.678901"}
    make_job(workspace, user, status="succeeded", prompt=LONG, step="succeeded", **big)
    step = f"Step 12: run_command {LONG}"[:200]
    make_job(workspace, user, status="running", prompt=LONG, step=step, progress=0.4, **big)
    make_job(workspace, user, status="failed", prompt=LONG, error=f"`{LONG}` failed: exit code 1", **big)
    make_job(workspace, user, status="queued", kind="tests", command=LONG[:500], step="waiting for a free slot")
    return workspace, node


@pytest.mark.parametrize("width", [1280, 1920])
def test_no_side_panel_overflows_its_width(crowded_workspace, live_server_url, browser, width):
    workspace, node = crowded_workspace
    page = new_page(browser)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, live_server_url, "alice")
    open_editor(page, live_server_url, workspace.id, node.id)
    try:
        tabs = page.locator("[data-testid^=panel-tab-]")
        ids = [tab.get_attribute("data-testid").removeprefix("panel-tab-") for tab in tabs.all()]
        assert "jobs" in ids and len(ids) >= 3, ids
        for tab_id in ids:
            page.click(f"[data-testid=panel-tab-{tab_id}]")
            panel = page.locator(f"[data-testid=panel-{tab_id}]")
            panel.wait_for()
            if tab_id == "jobs":
                page.click("[data-testid=jobs-env] summary")
                page.locator("[data-testid=jobs-env-problems]").wait_for()
                page.locator("[data-testid=jobs-secret]").wait_for()
                page.locator("[data-testid=job-card]").nth(3).wait_for()
                page.locator("[data-testid=job-card][data-status=running] [data-testid=job-log-toggle]").click()
                page.locator("[data-testid=job-card][data-status=running] [data-testid=job-log]").wait_for()
            screenshot(page, f"side-panel-{tab_id}-{width}")
            assert page.evaluate(OVERFLOWING_JS) == [], f"{tab_id} at {width} px"
        badge = page.locator("[data-testid=job-card][data-status=running] [data-testid=job-status]")
        page.click("[data-testid=panel-tab-jobs]")
        assert badge.inner_text().lower() == "running"
        tokens = page.locator("[data-testid=job-card][data-status=running] [data-testid=job-tokens]")
        assert "98765432 out" in tokens.inner_text()
        assert page.page_errors == []
    finally:
        page.context.close()
