"""Checkpoints of a workspace and deleted files: deduplicated storage, retention, restore of the whole workspace
or one file (merged as CRDT edits, keeping an edit made meanwhile), recreated and created-since files, binary
files, and deleted files restored at their path or a new one."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from pycrdt import Text

from tests.support.repos_data import PNG
from tests.support.yclient import YClient
from workspace.collab import checkpoints, contents, store, tombstones
from workspace.collab.files import create_file_with_text
from workspace.collab.models import Checkpoint, CheckpointContent, CheckpointFile, DeletedFile, DocUpdate
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import FileTreeError, create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

APP = "".join(f"line {n}\n" for n in range(1, 11))


@pytest.fixture
def workspace(user):
    workspace = create_workspace(user, "Checkpoints", readme=False)
    create_file_with_text(workspace, "app.py", APP)
    create_file_with_text(workspace, "docs/notes.md", "notes\n")
    return workspace


def node_at(workspace, path: str) -> FileNode:
    return FileNode.objects.get(workspace=workspace, path=path)


def text_at(workspace, path: str) -> str:
    return store.load_text(node_at(workspace, path).id)


def edit_line(file_id: int, line: int, suffix: str) -> None:
    """A client's small edit (the end of one line), stored as one update like a keystroke."""
    doc = store.load_doc(file_id)
    text = doc.get("content", type=Text)
    lines = str(text).splitlines(keepends=True)
    at = len("".join(lines[: line - 1]).encode()) + len(lines[line - 1].rstrip("\n").encode())
    before = doc.get_state()
    text.insert(at, suffix)
    store.append_update(file_id, doc.get_update(before))


def stored_file(workspace, path: str, data: bytes) -> FileNode:
    return contents.write_stored(workspace.id, path, FileKind.BINARY, data)


def test_a_checkpoint_records_every_file_and_unchanged_content_is_stored_once(workspace, user):
    stored_file(workspace, "logo.png", PNG)
    first = checkpoints.create(workspace.id, "manual", name="start", user_id=user.id)
    assert sorted(first.files.values_list("path", "kind")) == [
        ("app.py", "text"),
        ("docs/notes.md", "text"),
        ("logo.png", "binary"),
    ]
    assert CheckpointContent.objects.count() == 3
    for n in range(10):
        checkpoints.auto(workspace.id, f"test {n}")
    assert CheckpointContent.objects.count() == 3  # ten more checkpoints of unchanged files: no new content
    store.replace_text(node_at(workspace, "app.py").id, APP + "line 11\n")
    checkpoints.auto(workspace.id, "after an edit")
    assert CheckpointContent.objects.count() == 4  # only the changed file's new text
    assert CheckpointFile.objects.count() == 12 * 3
    row = CheckpointContent.objects.get(sha256=contents.sha256(("notes\n" * 1).encode()))
    assert row.size == len("notes\n")
    big = "x = 1\n" * 10_000
    create_file_with_text(workspace, "big.py", big)
    checkpoints.auto(workspace.id, "with a big file")
    kept = CheckpointContent.objects.get(sha256=contents.sha256(big.encode()))
    assert len(bytes(kept.data)) < len(big) // 50  # compressed
    assert contents.read(kept.sha256) == big.encode()


def test_a_checkpoint_loads_only_the_documents_whose_stored_log_changed_since_the_last(workspace, user, monkeypatch):
    checkpoints.auto(workspace.id, "first")
    app, notes = node_at(workspace, "app.py"), node_at(workspace, "docs/notes.md")
    loaded: list[int] = []
    load_text = store.load_text
    monkeypatch.setattr(store, "load_text", lambda file_id: loaded.append(file_id) or load_text(file_id))
    checkpoints.auto(workspace.id, "nothing changed")
    assert loaded == []
    edit_line(app.id, 1, " edited")
    checkpoints.auto(workspace.id, "one edit")
    assert loaded == [app.id]
    loaded.clear()
    store.compact(app.id)  # the same text, folded: its mark changes, so it is read once more
    checkpoints.auto(workspace.id, "after compaction")
    assert loaded == [app.id]
    newest = Checkpoint.objects.order_by("-id").first()
    texts = {f.path: contents.read(f.content_id).decode() for f in newest.files.all()}
    assert texts == {"app.py": load_text(app.id), "docs/notes.md": load_text(notes.id)}


def test_a_remembered_content_that_was_swept_is_stored_again(workspace, user):
    first = checkpoints.auto(workspace.id, "first")
    Checkpoint.objects.filter(id=first.id).delete()  # as retention drops an old automatic one
    contents.sweep(CheckpointContent.objects.values_list("sha256", flat=True))
    assert CheckpointContent.objects.count() == 0
    again = checkpoints.auto(workspace.id, "again")
    assert {contents.read(f.content_id).decode() for f in again.files.all()} == {APP, "notes\n"}


def test_a_manual_checkpoint_needs_a_name(workspace, user):
    with pytest.raises(checkpoints.CheckpointError, match="Name"):
        checkpoints.create(workspace.id, "manual", name="  ", user_id=user.id)


def test_retention_drops_old_automatic_checkpoints_and_tombstones_but_keeps_manual_ones(workspace, user, settings):
    settings.CHECKPOINT_KEEP_DAYS = 30
    manual = checkpoints.create(workspace.id, "manual", name="keep me", user_id=user.id)
    old_auto = checkpoints.auto(workspace.id, "old")
    store.replace_text(node_at(workspace, "app.py").id, "only in the old one\n")
    only_old = checkpoints.auto(workspace.id, "old, with its own content")
    store.replace_text(node_at(workspace, "app.py").id, "now\n")
    tombstones.delete_file(node_at(workspace, "docs/notes.md"), user.id)
    long_ago = only_old.created_at - timedelta(days=31)
    Checkpoint.objects.filter(id__in=[manual.id, old_auto.id, only_old.id]).update(created_at=long_ago)
    DeletedFile.objects.update(deleted_at=long_ago)
    recent = checkpoints.auto(workspace.id, "recent")  # taking a checkpoint prunes first

    assert set(Checkpoint.objects.values_list("id", flat=True)) == {manual.id, recent.id}
    assert not DeletedFile.objects.exists()
    # The content only the pruned checkpoint held went; the manual one's is still there.
    assert not CheckpointContent.objects.filter(sha256=contents.sha256(b"only in the old one\n")).exists()
    assert contents.read(manual.files.get(path="app.py").content_id) == APP.encode()


def test_restoring_the_whole_workspace_merges_recreates_and_lists_files_created_since(workspace, user):
    checkpoint = checkpoints.create(workspace.id, "manual", name="good", user_id=user.id)
    store.replace_text(node_at(workspace, "app.py").id, APP.replace("line 5\n", "line 5 broken\n"))
    tombstones.delete_file(node_at(workspace, "docs"), user.id)
    create_file_with_text(workspace, "later.py", "made after\n")

    result = checkpoints.restore(checkpoint, user.id)

    assert text_at(workspace, "app.py") == APP
    assert text_at(workspace, "docs/notes.md") == "notes\n"
    assert {f["path"]: f["status"] for f in result["files"]} == {"app.py": "restored", "docs/notes.md": "recreated"}
    assert result["created_since"] == ["later.py"] and result["removed"] == []
    assert text_at(workspace, "later.py") == "made after\n"  # left alone
    # Written as CRDT edits stored for the restoring user.
    last = DocUpdate.objects.filter(file_id=node_at(workspace, "app.py").id).order_by("-id").first()
    assert (last.author_id, last.origin_ref) == (user.id, f"checkpoint:{checkpoint.id}")
    # The restore took an automatic checkpoint first: restoring it undoes the restore as one unit.
    undo = Checkpoint.objects.get(id=result["undo_checkpoint"])
    assert undo.kind == "auto" and f"checkpoint #{checkpoint.id}" in undo.reason
    checkpoints.restore(undo, user.id, remove_created=True)
    assert text_at(workspace, "app.py") == APP.replace("line 5\n", "line 5 broken\n")
    assert not FileNode.objects.filter(workspace=workspace, path="docs/notes.md").exists()


def test_a_restore_can_remove_the_files_created_since_and_they_stay_restorable(workspace, user):
    checkpoint = checkpoints.auto(workspace.id, "before")
    create_file_with_text(workspace, "later.py", "made after\n")
    result = checkpoints.restore(checkpoint, user.id, remove_created=True)
    assert result["removed"] == ["later.py"] and result["created_since"] == []
    assert not FileNode.objects.filter(workspace=workspace, path="later.py").exists()
    [deleted] = tombstones.listing(workspace.id)
    assert (deleted["path"], deleted["deleted_by"]) == ("later.py", "alice")


def test_restoring_one_file_keeps_an_edit_made_meanwhile_and_touches_no_other_file(workspace, user):
    checkpoint = checkpoints.create(workspace.id, "manual", name="good", user_id=user.id)
    app = node_at(workspace, "app.py")
    store.replace_text(app.id, APP.replace("line 2\n", "line 2 bad\n"))
    store.replace_text(node_at(workspace, "docs/notes.md").id, "changed notes\n")
    before = checkpoints.auto(workspace.id, "before restoring")
    edit_line(app.id, 9, " typed while restoring")  # after the restore's own checkpoint, before its merge

    result = checkpoints.restore_onto(checkpoint, before, user.id, path="app.py")

    assert result["files"] == [{"path": "app.py", "status": "restored", "conflicts": []}]
    assert text_at(workspace, "app.py") == APP.replace("line 9\n", "line 9 typed while restoring\n")
    assert text_at(workspace, "docs/notes.md") == "changed notes\n"


def test_restoring_a_path_not_in_the_checkpoint_is_refused(workspace, user):
    checkpoint = checkpoints.auto(workspace.id, "before")
    with pytest.raises(checkpoints.CheckpointError, match="not in this checkpoint"):
        checkpoints.restore(checkpoint, user.id, path="nope.py")


def test_binary_files_are_restored_by_content_and_show_which_files_differ(workspace, user):
    logo = stored_file(workspace, "logo.png", PNG)
    checkpoint = checkpoints.auto(workspace.id, "before")
    contents.write_stored(workspace.id, "logo.png", FileKind.BINARY, b"\x00other", logo)
    store.replace_text(node_at(workspace, "app.py").id, "changed\n")
    tombstones.delete_file(node_at(workspace, "docs/notes.md"), user.id)
    create_file_with_text(workspace, "later.py", "x\n")
    shown = checkpoints.files(checkpoint)
    assert {f["path"]: f["state"] for f in shown["files"]} == {
        "app.py": "differs",
        "docs/notes.md": "missing",
        "logo.png": "differs",
    }
    assert shown["created_since"] == ["later.py"]
    checkpoints.restore(checkpoint, user.id)
    assert contents._stored.read(node_at(workspace, "logo.png")) == PNG
    assert {f["state"] for f in checkpoints.files(checkpoint)["files"]} == {"same"}


def test_a_deleted_file_is_restored_at_its_path_with_its_text(workspace, user):
    notes = node_at(workspace, "docs/notes.md")
    store.replace_text(notes.id, "last words\n")
    assert tombstones.delete_file(node_at(workspace, "docs"), user.id) == 2  # the folder and its file
    [deleted] = tombstones.listing(workspace.id)
    assert (deleted["path"], deleted["deleted_by"], deleted["path_taken"]) == ("docs/notes.md", "alice", False)
    node = tombstones.restore(DeletedFile.objects.get(id=deleted["id"]), user.id)
    assert node.path == "docs/notes.md" and store.load_text(node.id) == "last words\n"
    assert tombstones.listing(workspace.id) == []


def test_a_deleted_file_whose_path_is_taken_needs_a_new_path(workspace, user):
    tombstones.delete_file(node_at(workspace, "app.py"), user.id)
    create_file_with_text(workspace, "app.py", "a new app\n")
    tombstone = DeletedFile.objects.get(path="app.py")
    assert tombstones.listing(workspace.id)[0]["path_taken"] is True
    with pytest.raises(FileTreeError, match="exists now: give a new path"):
        tombstones.restore(tombstone, user.id)
    with pytest.raises(FileTreeError, match="Invalid path"):
        tombstones.restore(tombstone, user.id, "../escape.py")
    with pytest.raises(FileTreeError, match="already exists"):
        tombstones.restore(tombstone, user.id, "app.py")
    node = tombstones.restore(tombstone, user.id, "old/app.py")
    assert store.load_text(node.id) == APP
    assert text_at(workspace, "app.py") == "a new app\n"


def test_a_deleted_binary_file_is_restored_with_its_bytes(workspace, user):
    tombstones.delete_file(stored_file(workspace, "logo.png", PNG), user.id)
    node = tombstones.restore(DeletedFile.objects.get(path="logo.png"), user.id)
    assert node.kind == FileKind.BINARY and node.size == len(PNG)
    assert contents._stored.read(node) == PNG


def test_two_tombstones_of_the_same_text_share_one_content(workspace, user):
    for _ in range(2):
        create_file_with_text(workspace, "tmp.txt", "same\n")
        tombstones.delete_file(node_at(workspace, "tmp.txt"), user.id)
    assert DeletedFile.objects.filter(path="tmp.txt").count() == 2
    assert CheckpointContent.objects.filter(sha256=contents.sha256(b"same\n")).count() == 1
    one = DeletedFile.objects.filter(path="tmp.txt").first()
    tombstones.restore(one, user.id)
    assert CheckpointContent.objects.filter(sha256=contents.sha256(b"same\n")).exists()  # the other still holds it


def run_closing(func, *args):
    try:
        return func(*args)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
async def test_a_restore_reaches_live_clients_and_keeps_what_is_typed_while_it_runs(user, monkeypatch):
    def prepare():
        workspace = create_workspace(user, "Live", readme=False)
        app = create_file_with_text(workspace, "app.py", APP)
        checkpoint = checkpoints.create(workspace.id, "manual", name="good", user_id=user.id)
        store.replace_text(app.id, APP.replace("line 10\n", "line 10 broken\n"))
        return app, checkpoint

    app, checkpoint = await database_sync_to_async(prepare)()
    taken, typed = threading.Event(), threading.Event()
    take = checkpoints.auto

    def auto_then_wait(*args, **kwargs):  # the restore's own checkpoint, then someone types before its merge
        before = take(*args, **kwargs)
        taken.set()
        assert typed.wait(20)
        return before

    monkeypatch.setattr(checkpoints, "auto", auto_then_wait)
    alice, observer = YClient(app.id, user=user), YClient(app.id, user=user)
    for client in (alice, observer):
        assert await client.connect()
        await client.sync()
    try:
        # Its own thread: the one of database_sync_to_async must stay free for the room's writes meanwhile.
        restoring = asyncio.ensure_future(asyncio.to_thread(run_closing, checkpoints.restore, checkpoint, user.id))
        assert await asyncio.to_thread(taken.wait, 20)
        alice.text.insert(len("line 1"), " typed meanwhile")
        await alice.flush()
        # Seen by another client: stored (the room stores an update before fanning it out).
        await observer.pump_until(lambda: "typed meanwhile" in str(observer.text), timeout=10)
        typed.set()
        result = await restoring
        expected = APP.replace("line 1\n", "line 1 typed meanwhile\n", 1)
        for client in (alice, observer):
            await client.pump_until(lambda c=client: str(c.text) == expected, timeout=10)
    finally:
        typed.set()
        for client in (alice, observer):
            await client.close()
    assert result["files"] == [{"path": "app.py", "status": "restored", "conflicts": []}]
    assert await database_sync_to_async(store.load_text)(app.id) == expected


def test_a_path_that_is_a_folder_now_is_reported_as_a_conflict_and_left_alone(workspace, user):
    checkpoint = checkpoints.auto(workspace.id, "before")
    tombstones.delete_file(node_at(workspace, "app.py"), user.id)
    create_file_with_text(workspace, "app.py/inner.py", "x\n")
    result = checkpoints.restore(checkpoint, user.id)
    assert result["files"] == [
        {"path": "app.py", "status": "conflict", "conflicts": [], "message": "app.py is a folder now"}
    ]
    assert node_at(workspace, "app.py").is_folder
