"""Repositories in a real browser: a folder dropped on the file tree and one picked with the folder picker are
imported by a real Celery worker, the tree shows them with their kinds, an image previews, a text file too large
to edit live carries the read-only badge, and the export downloads what the tree holds."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.conf import settings as django_settings

from tests.support.browser import browser_fixture, login, new_page, open_editor, run_orm, screenshot  # noqa: F401
from tests.support.repos_data import PNG
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

MAX_DOC_BYTES = 4096
BIG = "a line of a log that is far too long to edit live\n" * 200


@pytest.fixture
def project(user):
    return create_workspace(user, "Browser import", readme=False)


@pytest.fixture
def server(django_db_blocker, tmp_path):
    """Daphne and a Celery worker sharing one REPOS_DATA_DIR, with a small document limit."""
    from tests.support.live import celery_worker, daphne_server

    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis and PostgreSQL")
    (django_settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)
    env = {"REPOS_DATA_DIR": str(tmp_path / "repos"), "COLLAB_MAX_DOC_BYTES": str(MAX_DOC_BYTES)}
    with django_db_blocker.unblock(), daphne_server(**env) as url, celery_worker(concurrency=1, **env):
        yield url


def folder(root, name: str) -> str:
    base = root / name
    for path, data in {
        "src/app.py": b"print('dropped')\n",
        "img/logo.png": PNG,
        "logs/big.txt": BIG.encode(),
        ".gitignore": b"*.log\n",
        "debug.log": b"ignored\n",
    }.items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_bytes(data)
    return str(base)


def test_drop_a_folder_on_the_tree_then_pick_one_and_see_kinds_previews_and_badges(project, server, browser, tmp_path):
    page = new_page(browser)
    login(page, server, "alice")
    open_editor(page, server, project.id)
    try:
        # The drop: files of a folder (as a folder picker gives them, with their relative paths) in a DataTransfer.
        page.evaluate("""() => {
            const input = document.createElement('input');
            input.type = 'file'; input.webkitdirectory = true; input.id = 'scratch-picker'; input.hidden = true;
            document.body.append(input);
        }""")
        page.set_input_files("#scratch-picker", folder(tmp_path, "dropped"))
        page.evaluate("""() => {
            const transfer = new DataTransfer();
            for (const file of document.getElementById('scratch-picker').files) transfer.items.add(file);
            const tree = document.querySelector('[data-testid=file-tree]');
            tree.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
            tree.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""")
        page.locator('[data-testid="file-dropped/src/app.py"]').wait_for()
        page.locator("[data-testid=repos-status][data-status=succeeded]").wait_for()
        assert "4 files imported" in page.locator("[data-testid=repos-summary-counts]").inner_text()
        assert page.locator("[data-testid=repos-skipped]").all_inner_texts() == [
            "dropped/debug.log — ignored by .gitignore"
        ]
        assert page.locator('[data-testid="file-dropped/debug.log"]').count() == 0

        # A binary file: listed with its size, shown as an image, never opened in the editor.
        logo = page.locator('[data-testid="file-dropped/img/logo.png"]')
        assert logo.get_attribute("data-kind") == "binary"
        assert page.locator('[data-testid="file-size-dropped/img/logo.png"]').inner_text() == f"{len(PNG)} B"
        logo.click()
        view = page.locator("[data-testid=stored-file-view]")
        view.wait_for()
        page.wait_for_function("() => document.querySelector('[data-testid=stored-file-image]')?.naturalWidth === 1")
        assert view.locator("[data-testid=stored-file-dimensions]").inner_text() == "1 × 1 px"
        assert page.evaluate("window.sparkroom.currentFile()") is None
        screenshot(page, "repos-image-preview")
        view.locator("[data-testid=stored-file-close]").click()

        # A text file over the document limit: the read-only badge, its beginning shown, not a document.
        badge = page.locator('[data-testid="readonly-badge-dropped/logs/big.txt"]')
        assert badge.inner_text().lower() == "read-only"
        page.locator('[data-testid="file-dropped/logs/big.txt"]').click()
        view.locator("[data-testid=stored-file-readonly]").wait_for()
        page.wait_for_function(
            "() => (document.querySelector('[data-testid=stored-file-text]')?.textContent || '').startsWith('a line')"
        )
        screenshot(page, "repos-readonly-badge")
        view.locator("[data-testid=stored-file-close]").click()

        # The folder picker (webkitdirectory) imports too.
        page.click("[data-testid=panel-tab-repos]")
        page.set_input_files("[data-testid=repos-folder-input]", folder(tmp_path, "picked"))
        page.locator('[data-testid="file-picked/src/app.py"]').wait_for()
        page.locator("[data-testid=repos-status][data-status=succeeded]").wait_for()
        screenshot(page, "repos-tree-and-panel")

        kinds = run_orm(
            lambda: dict(FileNode.objects.filter(workspace=project, is_folder=False).values_list("path", "kind"))
        )
        assert kinds == {
            f"{base}/{path}": kind
            for base in ("dropped", "picked")
            for path, kind in {
                "src/app.py": FileKind.TEXT,
                "img/logo.png": FileKind.BINARY,
                "logs/big.txt": FileKind.READONLY,
                ".gitignore": FileKind.TEXT,
            }.items()
        }

        # The export holds what the tree holds.
        response = page.request.get(f"{server}/api/workspaces/{project.id}/archive?path=dropped")
        assert response.ok
        with zipfile.ZipFile(io.BytesIO(response.body())) as archive:
            exported = {name: archive.read(name) for name in archive.namelist()}
        assert exported == {
            "dropped/.gitignore": b"*.log\n",
            "dropped/img/logo.png": PNG,
            "dropped/logs/big.txt": BIG.encode(),
            "dropped/src/app.py": b"print('dropped')\n",
        }
        assert page.page_errors == []
        # An empty workspace (made to import into) loads every plugin.
        assert not [text for text in page.locator("[data-testid=toast]").all_inner_texts() if "failed to load" in text]
    finally:
        page.context.close()
