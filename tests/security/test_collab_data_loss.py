"""Deleting a file while people type loses nothing elsewhere; a replica never keeps an update the store lacks."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from pycrdt import Doc, Text

from tests.support.helpers import RecordingRoomClient, make_user
from tests.support.yclient import YClient
from workspace.collab import registry, store
from workspace.collab import room as room_module
from workspace.collab.access import CLOSE_GONE, CLOSE_RESYNC
from workspace.collab.files import create_file_with_text
from workspace.collab.room import Room, RoomClosed
from workspace.collab.writer import FileGone, StoreFailed
from workspace.projects.services import create_workspace, delete_file

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def connected(file_id: int, user) -> YClient:
    client = YClient(file_id, user=user)
    assert await client.connect()
    await client.sync()
    return client


async def type_words(client: YClient, prefix: str, count: int) -> None:
    """Type one word per event-loop step, sent at once (so updates of several files share write batches)."""
    for i in range(count):
        client.text.insert(len(client.text), f"{prefix}{i} ")
        try:
            await client.flush()
        except Exception:  # noqa: BLE001 - the attacker's socket closes when its file goes
            return
        await asyncio.sleep(0)


async def test_deleting_a_file_while_typing_loses_no_edit_of_another_workspaces_file(caplog):
    victim = await database_sync_to_async(make_user)("victim")
    attacker = await database_sync_to_async(make_user)("attacker")
    victim_ws = await database_sync_to_async(create_workspace)(victim, "Victim")
    attacker_ws = await database_sync_to_async(create_workspace)(attacker, "Attacker")
    file_b = await database_sync_to_async(create_file_with_text)(victim_ws, "b.py", "start\n")
    typist, watcher = await connected(file_b.id, victim), await connected(file_b.id, victim)

    with caplog.at_level(logging.INFO, logger="workspace.collab"):
        for cycle in range(10):
            file_a = await database_sync_to_async(create_file_with_text)(attacker_ws, f"a{cycle}.py", "x\n")
            vandal = await connected(file_a.id, attacker)

            async def delete_soon(node=file_a) -> None:
                await asyncio.sleep(0.005)
                await database_sync_to_async(delete_file)(node)

            await asyncio.gather(type_words(typist, f"c{cycle}w", 30), type_words(vandal, "junk", 30), delete_soon())
            await vandal.pump_until(lambda v=vandal: v.closed_code is not None, timeout=5)
            assert vandal.closed_code == CLOSE_GONE  # a clear code for a deleted file, not 1011
            await vandal.close()

    await typist.settle()
    await watcher.pump_until(lambda: str(watcher.text) == str(typist.text), timeout=5)
    assert typist.closed_code is None and watcher.closed_code is None
    assert str(typist.text).count(" ") == 10 * 30
    assert await database_sync_to_async(store.load_text)(file_b.id) == str(typist.text)
    assert "Traceback" not in caplog.text  # no error storm
    await typist.close()
    await watcher.close()


async def test_updates_of_a_deleted_file_and_of_another_file_in_one_batch_only_the_deleted_ones_fail(caplog):
    owner = await database_sync_to_async(make_user)("owner")
    workspace = await database_sync_to_async(create_workspace)(owner, "W")
    kept = await database_sync_to_async(create_file_with_text)(workspace, "kept.py", "kept\n")
    doomed = await database_sync_to_async(create_file_with_text)(workspace, "doomed.py", "doomed\n")
    on_kept, on_doomed = RecordingRoomClient("k", owner.id), RecordingRoomClient("d", owner.id)
    kept_room = await registry.acquire(kept.id, on_kept)
    doomed_room = await registry.acquire(doomed.id, on_doomed)
    # Deleted by another process whose "file deleted" message has not arrived yet.
    await database_sync_to_async(delete_rows_of_file)(doomed.id)

    with caplog.at_level(logging.INFO, logger="workspace.collab"):
        results = await asyncio.gather(
            kept_room.accept(typed(kept_room, "more "), "k"),
            doomed_room.accept(typed(doomed_room, "junk "), "d"),
            return_exceptions=True,
        )

    assert results[0] is True and isinstance(results[1], FileGone)
    assert "writing each file's updates alone" in caplog.text
    assert await database_sync_to_async(store.load_text)(kept.id) == "more kept\n"
    assert registry.get_loaded(kept.id) is kept_room and kept_room.closed_reason is None
    assert registry.get_loaded(doomed.id) is None
    await asyncio.sleep(0.05)
    assert on_doomed.ended == (CLOSE_GONE, "the file was deleted") and on_kept.ended is None
    registry.release(kept_room, on_kept)
    await kept_room.close()


def delete_rows_of_file(file_id: int) -> None:
    with connection.cursor() as cursor:
        for table, column in (
            ("collab_docupdate", "file_id"),
            ("collab_docstate", "file_id"),
            ("projects_filenode", "id"),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [file_id])


def typed(room: Room, words: str) -> bytes:
    """An update inserting `words` at the start, made by a client that holds the room's document."""
    doc = Doc()
    doc.apply_update(room.doc.get_update())
    before = doc.get_state()
    doc.get("content", type=Text).insert(0, words)
    return doc.get_update(before)


class FailingWriter:
    """Stands in for the update writer: refuses to store, as a database that lost the row would."""

    def submit(self, file_id, update, then=None, on_failure=None, author=None) -> asyncio.Future:
        error = StoreFailed(f"file {file_id}: the update could not be stored")
        on_failure(error)
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(error)
        return failed


async def test_a_room_whose_update_could_not_be_stored_drops_its_replica_and_clients_resync(
    workspace_with_file, monkeypatch
):
    _, node = workspace_with_file
    client = RecordingRoomClient("browser")
    room = await registry.acquire(node.id, client)
    doc = Doc()
    doc.apply_update(room.doc.get_update())
    doc.get("content", type=Text).insert(0, "lost? ")

    monkeypatch.setattr(room_module, "writer", FailingWriter())
    with pytest.raises(StoreFailed):
        await room.accept(doc.get_update(), "browser")
    monkeypatch.undo()

    assert registry.get_loaded(node.id) is None  # the replica holding the unstored update is gone
    await asyncio.sleep(0.05)
    assert client.ended == (CLOSE_RESYNC, room.closed_reason)
    with pytest.raises(RoomClosed):
        await room.accept(doc.get_update(), "browser")

    # The client reconnects: a new room loads what is stored, and the client hands back what it holds.
    again = RecordingRoomClient("browser-again")
    fresh = await registry.acquire(node.id, again)
    assert "lost?" not in str(fresh.doc.get("content", type=Text))
    assert await fresh.accept(doc.get_update(), "browser-again")
    assert await database_sync_to_async(store.load_text)(node.id) == "lost? print('hi')\n"
    registry.release(fresh, again)
    await fresh.close()
