"""Issue #11 item 6: every HTML page carries a strict Content-Security-Policy, and the app works under it in
Chromium: editing, the Spark/Jobs/Team panels, Monaco's workers (JSON diagnostics, the diff editor), the
history, Spark settings and admin pages, without a single `securitypolicyviolation`."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from tests.support.browser import (  # noqa: F401
    browser_fixture,
    login,
    new_page,
    open_editor,
    server_text,
    type_in_editor,
    wait_for_text_equal,
)
from workspace.collab.files import create_file_with_text
from workspace.csp import HEADER, policy_for
from workspace.projects.services import create_workspace

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ")}


@pytest.mark.django_db
@pytest.mark.embedded
def test_html_pages_carry_the_strict_policy_and_other_responses_none(user):
    client = Client()
    client.force_login(user)
    for url in ("/", "/accounts/login/", "/admin/login/"):
        policy = directives(client.get(url)[HEADER])
        assert policy["script-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["base-uri"] == "'self'"
        assert policy["worker-src"] == "'self'"
        assert policy["connect-src"] == "'self' ws://testserver"
        assert "unsafe-eval" not in client.get(url)[HEADER]
    assert HEADER not in client.get("/api/workspaces")
    assert client.get("/api/workspaces").status_code == 200


@pytest.mark.django_db
@pytest.mark.embedded
def test_the_policy_names_wss_behind_tls_and_takes_overrides_from_settings(rf, settings):
    secure = rf.get("/", secure=True, HTTP_HOST="127.0.0.1:8100")
    assert directives(policy_for(secure))["connect-src"] == "'self' wss://127.0.0.1:8100"
    settings.CONTENT_SECURITY_POLICY = "img-src 'self' https://avatars.example.com; report-uri /csp"
    policy = directives(policy_for(rf.get("/")))
    assert policy["img-src"] == "'self' https://avatars.example.com"
    assert policy["report-uri"] == "/csp"
    assert policy["script-src"] == "'self'"


@pytest.fixture
def project(user):
    workspace = create_workspace(user, "CSP")
    main = create_file_with_text(workspace, "src/main.py", "print('hi')\n")
    config = create_file_with_text(workspace, "config.json", '{"name": "sparkroom"}\n')
    return workspace, main, config


@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_editor_and_monaco_workers_run_under_the_policy_without_violations(project, live_server_url, browser):
    workspace, main, config = project
    page = new_page(browser)
    page.add_init_script(RECORD_VIOLATIONS)
    workers: list[str] = []
    page.on("worker", lambda worker: workers.append(worker.url))
    try:
        login(page, live_server_url, "alice")
        response = page.goto(f"{live_server_url}/w/{workspace.id}/?file={main.id}")
        policy = directives(response.headers["content-security-policy"])
        assert policy["script-src"] == "'self'" and policy["worker-src"] == "'self'"
        open_editor(page, live_server_url, workspace.id, main.id)
        page.wait_for_selector("[data-testid=connection-status][data-status=connected]")

        type_in_editor(page, "# typed under CSP\n")
        wait_for_text_equal(page, "print('hi')\n# typed under CSP\n")
        deadline = time.monotonic() + 10
        while server_text(page, live_server_url, main.id) != "print('hi')\n# typed under CSP\n":
            assert time.monotonic() < deadline, "the typed text never reached the server"
            time.sleep(0.1)

        for panel in ("spark", "jobs", "team"):
            page.click(f"[data-testid=panel-tab-{panel}]")
            page.wait_for_selector(f"[data-testid=panel-tab-{panel}].active")

        # The JSON worker answers with diagnostics for broken JSON: Monaco's language workers run.
        page.evaluate("(id) => window.sparkroom.openFile(id)", config.id)
        page.wait_for_function(
            "() => window.sparkroom.currentFile()?.path === 'config.json' && window.sparkroom.isSynced()"
        )
        type_in_editor(page, "{ broken")
        page.wait_for_function(
            "() => { const m = window.sparkroom.monaco, model = window.sparkroom.editor.getModel();"
            " return m.editor.getModelMarkers({ resource: model.uri }).length > 0; }",
            timeout=30_000,
        )

        # The diff editor (what the Jobs review shows) computes its diff in the editor worker.
        changes = page.evaluate(
            """async () => {
                const m = window.sparkroom.monaco;
                const host = document.createElement('div');
                host.style.width = '600px';
                host.style.height = '200px';
                document.body.appendChild(host);
                const diff = m.editor.createDiffEditor(host, {});
                const updated = new Promise((resolve) => diff.onDidUpdateDiff(resolve));
                const original = m.editor.createModel('a\\nb\\n');
                diff.setModel({ original, modified: m.editor.createModel('a\\nc\\n') });
                await updated;
                return diff.getLineChanges().length;
            }"""
        )
        assert changes == 1
        assert any(url.endswith("/static/dist/json.worker.js") for url in workers), workers
        assert any(url.endswith("/static/dist/editor.worker.js") for url in workers), workers

        for url in ("/", "/history/", "/spark/settings/", f"/history/w/{workspace.id}/"):
            page.goto(f"{live_server_url}{url}")
            page.wait_for_load_state("networkidle")
            assert page.evaluate("window.__cspViolations") == [], url
        page.goto(f"{live_server_url}/api/docs")
        page.locator(".swagger-ui .info .title").get_by_text("Sparkroom API").wait_for()
        assert page.evaluate("window.__cspViolations") == []
        page.goto(f"{live_server_url}/w/{workspace.id}/")
        page.wait_for_function("() => window.sparkroomReady === true")
        assert page.evaluate("window.__cspViolations") == []
        assert page.page_errors == []
    finally:
        page.context.close()


@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_admin_login_page_runs_under_the_policy(live_server_url, browser):
    page = new_page(browser)
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        response = page.goto(f"{live_server_url}/admin/login/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__cspViolations") == []
        assert page.page_errors == []
    finally:
        page.context.close()
