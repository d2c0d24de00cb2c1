"""Export (a zip of every file's current content, at one instant), stored files' download and preview, and the
document sockets of stored files."""

from __future__ import annotations

import asyncio
import io
import zipfile

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import AsyncClient, Client

from tests.support.helpers import make_member, make_user
from tests.support.repos_data import IMPORTED, PNG, PROJECT, zip_bytes
from tests.support.yclient import YClient
from workspace.collab import store
from workspace.collab.access import CLOSE_NOT_A_DOCUMENT, CLOSE_NOT_FOUND
from workspace.projects.models import FileNode, Role
from workspace.projects.services import create_file, create_workspace
from workspace.repos import export, importer
from workspace.repos.blobs import PREVIEW_TEXT_BYTES

pytestmark = [pytest.mark.embedded]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    monkeypatch.setattr("tasks.repos.enqueue", lambda import_id: None)


def imported_workspace(user, data: bytes = None, name: str = "Project"):
    workspace = create_workspace(user, name, readme=False)
    job = importer.create_archive_import(user, workspace.id, SimpleUploadedFile("p.zip", data or zip_bytes(PROJECT)))
    assert importer.run_import(job.id) == "succeeded"
    return workspace


def node(workspace, path: str) -> FileNode:
    return FileNode.objects.get(workspace=workspace, path=path)


def unzip(data: bytes) -> dict[str, bytes | None]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename.rstrip("/"): None if info.is_dir() else archive.read(info) for info in archive.infolist()}


def body(response) -> bytes:
    async def collect() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(collect)()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_export_holds_every_files_current_content_and_empty_folders(user):
    workspace = imported_workspace(user)
    store.replace_text(node(workspace, "src/app.py").id, "print('edited')\n")
    response = client_for(user).get(f"/api/workspaces/{workspace.id}/archive")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="Project.zip"'
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    assert unzip(data) == {**IMPORTED, "src/app.py": b"print('edited')\n", "docs": None}


@pytest.mark.django_db
def test_a_folder_exports_alone_with_its_paths(user):
    workspace = imported_workspace(user)
    response = client_for(user).get(f"/api/workspaces/{workspace.id}/archive?path=src")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="src.zip"'
    expected = {path: data for path, data in IMPORTED.items() if path.startswith("src/")}
    assert unzip(body(response)) == expected
    for missing in ("nope", "src/app.py", "../etc"):
        answer = client_for(user).get(f"/api/workspaces/{workspace.id}/archive", {"path": missing})
        assert answer.status_code == 404, missing


@pytest.mark.django_db
def test_viewers_export_and_non_members_get_404(user):
    workspace = imported_workspace(user)
    viewer, outsider = make_user("viewer"), make_user("outsider")
    make_member(workspace, viewer, Role.VIEWER)
    assert client_for(viewer).get(f"/api/workspaces/{workspace.id}/archive").status_code == 200
    assert client_for(outsider).get(f"/api/workspaces/{workspace.id}/archive").status_code == 404


@pytest.mark.django_db
def test_stored_files_download_as_stored_and_live_documents_as_their_current_text(user):
    workspace = imported_workspace(user)
    client = client_for(user)
    logo = client.get(f"/api/files/{node(workspace, 'assets/logo.png').id}/download")
    assert logo.content == PNG and logo["Content-Type"] == "application/octet-stream"
    assert logo["Content-Disposition"] == 'attachment; filename="logo.png"'
    store.replace_text(node(workspace, "README.md").id, "# now\n")
    assert client.get(f"/api/files/{node(workspace, 'README.md').id}/download").content == b"# now\n"
    assert client.get(f"/api/files/{node(workspace, 'src').id}/download").status_code == 400


@pytest.mark.django_db
def test_images_preview_inline_under_a_sandboxing_policy_and_other_blobs_do_not(user):
    workspace = imported_workspace(user)
    client = client_for(user)
    preview = client.get(f"/api/files/{node(workspace, 'assets/logo.png').id}/preview")
    assert preview.status_code == 200 and preview.content == PNG
    assert preview["Content-Type"] == "image/png" and preview["X-Content-Type-Options"] == "nosniff"
    assert (
        "sandbox" in preview["Content-Security-Policy"] and "default-src 'none'" in preview["Content-Security-Policy"]
    )
    assert preview["Content-Disposition"].startswith("inline")
    font = client.get(f"/api/files/{node(workspace, 'assets/font.ttf').id}/preview")
    assert font.status_code == 415 and "download it" in font.json()["detail"]
    assert client.get(f"/api/files/{node(workspace, 'README.md').id}/preview").status_code == 415
    # An HTML file renamed .png is not an image: it is text, a live document, and never served inline.
    disguised = imported_workspace(user, zip_bytes({"x.png": b"<script>alert(1)</script>"}), "Disguised")
    assert client.get(f"/api/files/{node(disguised, 'x.png').id}/preview").status_code == 415


@pytest.mark.django_db
def test_read_only_text_previews_its_beginning_and_is_not_a_live_document(user, settings):
    settings.COLLAB_MAX_DOC_BYTES = 1024
    big = ("line\n" * 100_000).encode()
    workspace = imported_workspace(user, zip_bytes({"big.log.txt": big}), "Big")
    file_id = node(workspace, "big.log.txt").id
    client = client_for(user)
    preview = client.get(f"/api/files/{file_id}/preview")
    assert preview["Content-Type"] == "text/plain; charset=utf-8"
    assert preview.content == big[:PREVIEW_TEXT_BYTES]
    assert client.get(f"/api/files/{file_id}/download").content == big
    text = client.get(f"/api/files/{file_id}/text")
    assert text.status_code == 415 and "download it" in text.json()["detail"]


async def first_answer(file_id: int, user) -> dict:
    from channels.testing import WebsocketCommunicator

    from workspace.asgi import application

    comm = WebsocketCommunicator(application, f"/ws/yjs/{file_id}")
    comm.scope["user"] = user
    assert (await comm.connect())[0]
    try:
        return await asyncio.wait_for(comm.output_queue.get(), 5)
    finally:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_stored_files_document_socket_is_refused_and_another_workspaces_looks_missing(settings):
    settings.COLLAB_MAX_DOC_BYTES = 64

    def setup():
        me, stranger = make_user("me"), make_user("stranger")
        mine = imported_workspace(me, zip_bytes({"logo.png": PNG, "big.txt": b"x" * 100}), "Mine")
        theirs = imported_workspace(stranger, zip_bytes({"logo.png": PNG}), "Theirs")
        return me, node(mine, "logo.png").id, node(mine, "big.txt").id, node(theirs, "logo.png").id

    me, mine, big, theirs = await database_sync_to_async(setup)()
    assert await first_answer(mine, me) == {
        "type": "websocket.close",
        "code": CLOSE_NOT_A_DOCUMENT,
        "reason": "not a text document: a binary file (download or preview it)",
    }
    assert (await first_answer(big, me))[
        "reason"
    ] == "not a live document: a read-only file too large to edit (download it)"
    missing = {"type": "websocket.close", "code": CLOSE_NOT_FOUND, "reason": "no such file"}
    assert await first_answer(theirs, me) == await first_answer(987_654_321, me) == missing


# --- live edits ---------------------------------------------------------------------------------------------------


async def joined(file_id: int, user) -> YClient:
    client = YClient(file_id, user=user)
    assert await client.connect()
    await client.sync()
    return client


async def export_over_http(user, workspace_id: int) -> dict[str, bytes | None]:
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(f"/api/workspaces/{workspace_id}/archive")
    assert response.status_code == 200
    return unzip(b"".join([part async for part in response.streaming_content]))


@pytest.mark.django_db(transaction=True)
async def test_round_trip_import_then_edit_in_two_clients_then_export_gives_the_edited_tree(user):
    bob = await database_sync_to_async(make_user)("bob")
    workspace = await database_sync_to_async(imported_workspace)(user)
    await database_sync_to_async(make_member)(workspace, bob, Role.EDITOR)
    app = await database_sync_to_async(node)(workspace, "src/app.py")
    readme = await database_sync_to_async(node)(workspace, "README.md")
    alice_app, bob_app = await joined(app.id, user), await joined(app.id, bob)
    bob_readme = await joined(readme.id, bob)
    try:
        alice_app.text.insert(0, "# alice\n")
        bob_app.text.insert(len(bob_app.text), "# bob\n")
        await asyncio.gather(alice_app.flush(), bob_app.flush())
        await bob_readme.insert(len(bob_readme.text), "More.\n")
        await alice_app.pump_until(lambda: "# bob" in str(alice_app.text))
        await bob_app.pump_until(lambda: "# alice" in str(bob_app.text))
        await alice_app.settle()
        await bob_app.settle()
        edited_app = str(alice_app.text)
        assert edited_app == str(bob_app.text) == "# alice\nprint('hello')\n# bob\n"
        exported = await export_over_http(bob, workspace.id)
    finally:
        for client in (alice_app, bob_app, bob_readme):
            await client.close()
    expected = {**IMPORTED, "src/app.py": edited_app.encode(), "README.md": b"# Demo\nMore.\n", "docs": None}
    assert exported == expected


def _compact(*file_ids: int) -> None:
    try:
        for file_id in file_ids:
            store.compact(file_id)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
async def test_an_export_is_one_instant_while_two_files_are_typed_into(user):
    """A types into a.txt, then into b.txt, each keystroke stored before the next: at every instant a.txt has as
    many keystrokes as b.txt or one more. Exports taken meanwhile (while the logs are also being compacted into
    snapshots) must each show such an instant."""
    if connection.vendor != "postgresql":
        pytest.skip("the REPEATABLE READ snapshot is PostgreSQL's; SQLite serialises the export with its writer")

    def setup():
        workspace = create_workspace(user, "Typing", readme=False)
        return workspace, create_file(workspace, "a.txt"), create_file(workspace, "b.txt")

    workspace, a, b = await database_sync_to_async(setup)()
    typist_a, typist_b = await joined(a.id, user), await joined(b.id, user)
    stop = asyncio.Event()
    typed = 0

    async def type_alternately() -> None:
        nonlocal typed
        while not stop.is_set():
            await typist_a.insert(len(typist_a.text), "a")
            await typist_b.insert(len(typist_b.text), "b")
            typed += 1
            if typed % 10 == 0:
                await asyncio.to_thread(_compact, a.id, b.id)

    typing = asyncio.create_task(type_alternately())
    seen: list[tuple[int, int]] = []
    try:
        while len(seen) < 40 or typed < 100:
            snapshot = await database_sync_to_async(export.take_snapshot)(workspace.id)
            files = unzip((await asyncio.to_thread(export.write_zip, snapshot)).handle.read())
            seen.append((len(files["a.txt"]), len(files["b.txt"])))
            assert typing.done() is False, typing.exception() if typing.done() else None
    finally:
        stop.set()
        await typing
        await typist_a.close()
        await typist_b.close()
    torn = [(count_a, count_b) for count_a, count_b in seen if count_a - count_b not in (0, 1)]
    assert not torn, f"exports mixing two instants (a.txt, b.txt keystrokes): {torn[:5]} of {len(seen)}"
    assert len({count for count, _ in seen}) > 10, "the exports ran while the typing went on"
