"""The timeline of a file (timeline.history, timeline.restore): versions newest first with their participants by
name and their line counts, one version's text, diffs, restoring a whole version or one hunk as CRDT edits that
keep concurrent live edits, stored for the restoring user, and undoing a restore as one unit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from tests.support.file_history import append, time_all, write
from tests.support.helpers import make_member, make_user
from tests.support.yclient import YClient
from workspace.collab import contents, store
from workspace.collab.attribution import HUMAN, SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.models import Checkpoint, DocUpdate
from workspace.projects.models import Role
from workspace.projects.services import create_workspace
from workspace.timeline import history, restore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

T0 = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
ORIGINAL = "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"


@pytest.fixture
def setup(db):
    alice, bob = make_user("alice"), make_user("bob")
    workspace = create_workspace(alice, "Timeline")
    make_member(workspace, bob, Role.EDITOR)
    node = create_file_with_text(workspace, "main.py", ORIGINAL)
    time_all(node.id, T0)
    return node, alice, bob


def replace_line(old: str, new: str):
    def change(text) -> None:
        content = str(text)
        start = len(content[: content.index(old)].encode("utf-8"))
        del text[start : start + len(old.encode("utf-8"))]
        text.insert(start, new)

    return change


def test_the_timeline_lists_versions_newest_first_with_names_and_line_counts(setup):
    node, alice, bob = setup
    spark = Author(alice.id, SPARK, "tiny", "9")
    write(node.id, Author(alice.id, HUMAN), replace_line("return 1", "return 10"), T0 + timedelta(minutes=1))
    append(node.id, Author(bob.id, HUMAN), "# bob\n", T0 + timedelta(minutes=2))
    store.compact(node.id)
    append(node.id, spark, "\n\ndef d():\n    return 4\n", T0 + timedelta(minutes=3))
    found = history.timeline(node)
    assert [[p.name for p in v.participants] for v in found.versions] == [
        ["Spark · tiny"],
        ["alice", "bob"],
        ["Sparkroom"],
    ]
    assert [(v.lines_added, v.lines_deleted, v.compacted) for v in found.versions] == [
        (4, 0, False),
        (2, 1, True),
        (10, 0, True),
    ]
    assert history.version_text(node, found.versions[-1].id) == ORIGINAL
    assert history.version_text(node, found.versions[0].id) == store.load_text(node.id)
    with pytest.raises(history.VersionNotFound):
        history.version_text(node, found.versions[0].id + 1000)


def test_restoring_a_version_writes_its_text_for_the_restoring_user_as_a_version_of_its_own(setup):
    node, alice, bob = setup
    write(node.id, Author(alice.id, HUMAN), replace_line("return 2", "return 20"), T0 + timedelta(minutes=1))
    original = history.timeline(node).versions[-1].id
    outcome = restore.restore(node, bob, original)
    assert outcome.conflicts == []
    assert store.load_text(node.id) == ORIGINAL
    last = DocUpdate.objects.filter(file_id=node.id).order_by("-id").first()
    assert (last.author_id, last.origin_kind, last.origin_ref) == (bob.id, HUMAN, f"restore:{outcome.restore_id}")
    newest = history.timeline(node).versions[0]
    assert [p.name for p in newest.participants] == ["bob"] and newest.lines_deleted == 1


def test_a_restore_first_takes_a_checkpoint_of_the_workspace_with_the_text_before_it(setup):
    node, alice, bob = setup
    write(node.id, Author(alice.id, HUMAN), replace_line("return 2", "return 20"), T0 + timedelta(minutes=1))
    before = store.load_text(node.id)
    restore.restore(node, bob, history.timeline(node).versions[-1].id)
    (taken,) = Checkpoint.objects.filter(workspace_id=node.workspace_id)
    assert (taken.kind, taken.reason) == ("auto", f"before restoring {node.path} to an earlier version")
    assert taken.created_by_id == bob.id
    kept = taken.files.get(path=node.path)
    assert contents.read(kept.content_id).decode() == before


def test_restoring_one_hunk_keeps_the_other_hunks_and_edits_made_after_the_diff(setup):
    node, alice, bob = setup
    person = Author(alice.id, HUMAN)
    write(node.id, person, replace_line("return 1", "return 10"), T0 + timedelta(minutes=1))
    write(node.id, person, replace_line("return 3", "return 30"), T0 + timedelta(minutes=1, seconds=5))
    original = history.timeline(node).versions[-1].id
    diff = history.diff(node, original)
    assert [(h.old_start, h.new_start) for h in diff.hunks] == [(1, 1), (9, 9)]
    # Alice edits another line while Bob looks at the diff.
    write(node.id, person, replace_line("return 2", "return 2  # kept"))
    outcome = restore.restore(node, bob, original, [1], diff.live_update_id)
    assert outcome.conflicts == []
    assert store.load_text(node.id) == ORIGINAL.replace("return 1", "return 10").replace("return 2", "return 2  # kept")


def test_a_hunk_number_outside_the_diff_is_refused(setup):
    node, alice, bob = setup
    write(node.id, Author(alice.id, HUMAN), replace_line("return 1", "return 10"), T0 + timedelta(minutes=1))
    with pytest.raises(restore.RestoreError):
        restore.restore(node, bob, history.timeline(node).versions[-1].id, [3])


def test_undoing_a_restore_takes_back_its_changes_and_keeps_what_others_wrote_since(setup):
    node, alice, bob = setup
    write(node.id, Author(alice.id, HUMAN), replace_line("return 1", "return 10"), T0 + timedelta(minutes=1))
    edited = store.load_text(node.id)
    outcome = restore.restore(node, bob, history.timeline(node).versions[-1].id)
    assert store.load_text(node.id) == ORIGINAL
    write(node.id, Author(alice.id, HUMAN), replace_line("return 3", "return 3  # after"))
    assert restore.undo(node, alice, outcome.restore_id) == []
    assert store.load_text(node.id) == edited.replace("return 3", "return 3  # after")
    last = DocUpdate.objects.filter(file_id=node.id).order_by("-id").first()
    assert (last.author_id, last.origin_ref) == (alice.id, f"undo:{outcome.restore_id}")
    with pytest.raises(restore.RestoreError):
        restore.undo(node, alice, outcome.restore_id)
    assert [(r.id, r.undone_at is not None) for r in restore.recent_restores(node)] == [(outcome.restore_id, True)]


def test_hunks_chosen_against_a_live_text_compaction_folded_away_are_refused_as_stale(setup):
    node, alice, bob = setup
    person = Author(alice.id, HUMAN)
    write(node.id, person, replace_line("return 1", "return 10"), T0 + timedelta(minutes=1))
    original = history.timeline(node).versions[-1].id
    diff = history.diff(node, original)
    write(node.id, person, replace_line("return 2", "return 20"), T0 + timedelta(minutes=1, seconds=1))
    write(node.id, person, replace_line("return 3", "return 30"), T0 + timedelta(minutes=1, seconds=2))
    store.compact(node.id)
    with pytest.raises(restore.Stale):
        restore.restore(node, bob, original, [0], diff.live_update_id)


async def test_a_restore_reaches_a_connected_client_at_once_and_keeps_what_it_typed_after_the_diff(setup):
    node, alice, bob = setup
    await database_sync_to_async(write)(
        node.id, Author(alice.id, HUMAN), replace_line("return 1", "return 10"), T0 + timedelta(minutes=1)
    )
    found = await database_sync_to_async(history.timeline)(node)
    diff = await database_sync_to_async(history.diff)(node, found.versions[-1].id)
    client = YClient(node.id, user=alice)
    assert await client.connect()
    await client.sync()
    try:
        await client.insert(0, "# alice\n")
        for _ in range(200):  # until the server stored it
            if (await database_sync_to_async(store.load_text)(node.id)).startswith("# alice"):
                break
            await asyncio.sleep(0.05)
        await database_sync_to_async(restore.restore)(node, bob, found.versions[-1].id, None, diff.live_update_id)
        await client.pump_until(lambda: "return 1\n" in str(client.text))
        assert str(client.text) == "# alice\n" + ORIGINAL
    finally:
        await client.close()
    assert await database_sync_to_async(store.load_text)(node.id) == "# alice\n" + ORIGINAL
