"""Document persistence: snapshot + log, compaction, and the Celery compaction task."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from tasks.collab import compact_document
from workspace.collab import store
from workspace.collab.models import DocState, DocUpdate

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def client_update(base: Doc, edit) -> bytes:
    before = base.get_state()
    edit(base.get("content", type=Text))
    return base.get_update(before)


def test_compaction_folds_the_log_into_a_snapshot_without_changing_the_text(workspace_with_file):
    _, node = workspace_with_file
    doc = store.load_doc(node.id)
    for i in range(5):
        store.append_update(node.id, client_update(doc, lambda t, i=i: t.insert(0, f"{i}")))
    text_before = store.load_text(node.id)
    assert store.compact(node.id) == 6
    assert DocUpdate.objects.filter(file_id=node.id).count() == 0
    state = DocState.objects.get(file_id=node.id)
    assert state.text == text_before == "43210print('hi')\n"
    assert store.load_text(node.id) == text_before


def test_compaction_twice_is_a_no_op(workspace_with_file):
    _, node = workspace_with_file
    store.compact(node.id)
    assert store.compact(node.id) == 0
    assert store.load_text(node.id) == "print('hi')\n"


def test_updates_after_compaction_are_replayed_on_top_of_the_snapshot(workspace_with_file):
    _, node = workspace_with_file
    store.compact(node.id)
    doc = store.load_doc(node.id)
    store.append_update(node.id, client_update(doc, lambda t: t.insert(len(t), "# end\n")))
    assert store.load_text(node.id) == "print('hi')\n# end\n"


def test_compaction_task_ignores_deleted_files(workspace_with_file):
    _, node = workspace_with_file
    file_id = node.id
    node.delete()
    assert compact_document.run(file_id) == 0


def test_replace_text_is_one_update_visible_after_reload(workspace_with_file):
    _, node = workspace_with_file
    store.replace_text(node.id, "new body\n")
    assert store.load_text(node.id) == "new body\n"


def test_compaction_keeps_stored_updates_whose_dependencies_have_not_arrived_yet(workspace_with_file):
    _, node = workspace_with_file
    client = Doc()
    client.apply_update(store.load_doc(node.id).get_update())
    text = client.get("content", type=Text)
    before = client.get_state()
    text.insert(0, "first ")
    missing = client.get_update(before)  # never reaches the store (e.g. lost with a reset room)
    middle = client.get_state()
    text.insert(len("first "), "second ")
    store.append_update(node.id, client.get_update(middle))  # builds on the missing one

    store.compact(node.id)
    store.append_update(node.id, missing)  # the client hands it back after reconnecting

    assert store.load_text(node.id) == "first second print('hi')\n"


def test_server_client_ids_are_never_handed_out_twice_and_stay_small():
    issued = [store.next_server_client_id() for _ in range(5)]
    assert issued == sorted(set(issued))
    assert max(issued) < 2**31  # far below browsers' random 32-bit ids, so server-side writers win ties


def test_a_load_racing_a_compaction_retries_and_misses_nothing(workspace_with_file, monkeypatch):
    _, node = workspace_with_file
    for word in ("one ", "two ", "three "):
        doc = store.load_doc(node.id)
        store.append_update(node.id, client_update(doc, lambda text, w=word: text.insert(0, w)))
    expected = store.load_text(node.id)
    real_snapshot = store._snapshot
    raced: list[bool] = []

    def snapshot_then_compaction(file_id):
        read = real_snapshot(file_id)
        if not raced:  # between this read and the log read, a compaction folds and deletes the log
            raced.append(True)
            store.compact(file_id)
        return read

    monkeypatch.setattr(store, "_snapshot", snapshot_then_compaction)
    assert store.load_text(node.id) == expected
