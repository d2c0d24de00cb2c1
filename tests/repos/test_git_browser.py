"""Git in real browsers (Daphne and a real Celery worker; the remote a local bare repository reached by
file://): a commit from the Git tab after two people typed (the diff against the last commit shown in Monaco, the
tree marked, author and Co-authored-by trailer in the commit), and a pull of a remote change while another user
types in the same file, both seeing the merged text; a branch switch asked first, naming who is editing."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from tests.support.browser import (  # noqa: F401
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
from tests.support.repos_data import git, make_repository
from workspace.collab import store
from workspace.collab.attribution import Author
from workspace.projects.models import FileNode, Role
from workspace.projects.services import create_workspace
from workspace.repos import branches, importer, working
from workspace.repos.models import repository_path

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

APP = "".join(f"line {n}\n" for n in range(1, 6))


@pytest.fixture
def served(tmp_path, settings):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    settings.REPOS_LOCAL_ROOTS = [tmp_path / "served"]
    return make_repository(tmp_path / "served", [{"app.py": APP.encode()}])


@pytest.fixture
def server(django_db_blocker, tmp_path, served):
    from tests.support.live import celery_worker, daphne_server

    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    (django_settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    env = {"REPOS_DATA_DIR": str(tmp_path / "repos"), "REPOS_LOCAL_ROOTS": str(tmp_path / "served")}
    with django_db_blocker.unblock(), daphne_server(**env) as url, celery_worker(concurrency=1, **env):
        yield url


@pytest.fixture
def project(db, served):
    def make():
        user, bob = make_user("alice"), make_user("bob")
        workspace = create_workspace(user, "Git in the browser", readme=False)
        make_member(workspace, bob, Role.EDITOR)
        job = importer.create_git_import(user, workspace.id, git_url=served.as_uri(), shallow=False)
        importer.run_import(job.id)
        return workspace, FileNode.objects.get(workspace=workspace, path="app.py")

    return run_orm(make)  # a browser of an earlier test may still hold this thread's event loop


def two_editors(browser, server, workspace, node):
    pages = []
    for name in ("alice", "bob"):
        page = new_page(browser)
        login(page, server, name)
        open_editor(page, server, workspace.id, node.id)
        pages.append(page)
    return pages


def test_a_commit_from_the_git_tab_records_the_author_and_the_other_typist_as_co_author(project, server, browser):
    workspace, node = project
    alice, bob = two_editors(browser, server, workspace, node)
    type_in_editor(alice, "# alice\n")
    wait_for_editor_text(bob, "text.includes('# alice')")
    type_in_editor(bob, "# bob\n")
    wait_for_editor_text(alice, "text.includes('# bob')")
    alice.click("[data-testid=panel-tab-git]")
    change = alice.locator('[data-testid=git-change][data-path="app.py"]')
    change.wait_for()
    assert change.get_attribute("data-status") == "modified"
    alice.locator('[data-testid="file-app.py"][data-git=modified]').wait_for()
    change.locator("[data-testid=git-open-diff]").click()
    alice.locator("[data-testid=git-diff-editor] .editor.original").wait_for()
    alice.wait_for_function(
        "() => window.sparkroom.monaco.editor.getModels().some((m) => m.getValue().endsWith('# alice\\n# bob\\n'))"
    )
    screenshot(alice, "git-diff")
    alice.click("[data-testid=git-diff-close]")
    alice.fill("[data-testid=git-message]", "Edit together")
    alice.click("[data-testid=git-commit]")
    alice.locator("[data-testid=git-status][data-status=succeeded]").wait_for()
    alice.locator("[data-testid=git-clean]").wait_for()
    assert alice.locator('[data-testid="file-app.py"][data-git]').count() == 0
    screenshot(alice, "git-committed")
    bare = repository_path(workspace.id)
    assert git("log", "-1", "--format=%an", cwd=bare).strip() == "alice"
    assert "Co-authored-by: bob <bob@users.sparkroom.invalid>" in git("log", "-1", "--format=%B", cwd=bare)
    assert git("show", "HEAD:app.py", cwd=bare) == APP + "# alice\n# bob\n"
    assert alice.page_errors == bob.page_errors == []


def test_a_pull_merges_a_remote_change_while_another_user_types_in_the_same_file(
    browser, server, project, served, tmp_path
):
    workspace, node = project
    work = tmp_path / "upstream"
    git("clone", "-q", str(served), str(work))
    (work / "app.py").write_text(APP.replace("line 5\n", "line 5 (from the remote)\n"))
    git("commit", "-qam", "upstream", cwd=work)
    git("push", "-q", cwd=work)
    alice, bob = two_editors(browser, server, workspace, node)
    alice.click("[data-testid=panel-tab-git]")
    alice.locator("[data-testid=git-pull]").wait_for()
    # Bob types at the top of the file while Alice pulls.
    bob.click(".monaco-editor .view-lines", position={"x": 5, "y": 5})
    bob.keyboard.press("Control+Home")
    alice.click("[data-testid=git-pull]")
    typed = ""
    for letter in "bob was typing ":
        bob.keyboard.type(letter)
        typed += letter
        bob.wait_for_timeout(40)
    alice.locator("[data-testid=git-status][data-status=succeeded]").wait_for()
    expected = typed + APP.replace("line 5\n", "line 5 (from the remote)\n")
    for page in (alice, bob):
        wait_for_editor_text(page, f"text === {expected!r}")
    screenshot(bob, "git-pulled-while-typing")
    assert alice.page_errors == bob.page_errors == []


def test_switching_branches_asks_first_naming_who_is_editing_then_everyone_sees_the_branchs_text_and_its_undo(
    project, server, browser
):
    workspace, node = project
    alice_user = run_orm(lambda: workspace.memberships.get(role=Role.OWNER).user)

    def prepare_feature() -> None:
        branches.create_branch(workspace.id, "feature")
        branches.switch(alice_user, workspace.id, "feature")
        store.replace_text(node.id, APP + "on the feature branch\n", Author(alice_user.id))
        working.commit(alice_user, workspace.id, "Feature")
        branches.switch(alice_user, workspace.id, "main")

    run_orm(prepare_feature)
    alice, bob = two_editors(browser, server, workspace, node)
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept("feature" if dialog.type == "prompt" else None)

    alice.on("dialog", answer)
    alice.click("[data-testid=panel-tab-git]")
    alice.click("[data-testid=git-branches]")
    alice.locator("[data-testid=git-branch]", has_text="feature").wait_for()
    assert "Branches: feature, main" in asked[0]
    assert "Editing now: bob." in asked[1]  # the server refused (409) naming the others; alice confirmed
    for page in (alice, bob):
        wait_for_editor_text(page, f"text === {APP + 'on the feature branch' + chr(10)!r}")
    alice.click("[data-testid=git-undo-switch]")
    alice.locator("[data-testid=git-branch]", has_text="main").wait_for()
    assert "Undo the switch to feature" in asked[2] and "Editing now: bob." in asked[2]
    for page in (alice, bob):
        wait_for_editor_text(page, f"text === {APP!r}")
    assert alice.page_errors == bob.page_errors == []


def test_a_pull_that_meets_a_live_edit_of_the_same_line_keeps_it_and_shows_the_remotes_version(
    project, served, tmp_path, server, browser
):
    workspace, node = project
    work = tmp_path / "upstream"
    git("clone", "-q", str(served), str(work))
    (work / "app.py").write_text(APP.replace("line 5\n", "line 5 remote\n"))
    git("commit", "-qam", "upstream", cwd=work)
    git("push", "-q", cwd=work)
    alice, bob = two_editors(browser, server, workspace, node)
    type_in_editor(bob, "live")  # a new last line, next to the line the remote changed: one hunk for the diff3
    wait_for_editor_text(alice, "text.includes('line 5\\nlive')")
    alice.click("[data-testid=panel-tab-git]")
    alice.click("[data-testid=git-pull]")
    alice.locator("[data-testid=git-status][data-status=conflict]").wait_for()
    conflict = alice.locator('[data-testid=git-conflict][data-path="app.py"]')
    assert conflict.locator("[data-testid=git-conflict-theirs]").inner_text() == "line 5 remote\n"
    screenshot(alice, "git-pull-conflict")
    for page in (alice, bob):
        wait_for_editor_text(page, f"text === {APP + 'live'!r}")
    assert alice.page_errors == bob.page_errors == []
