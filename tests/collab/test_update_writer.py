"""UpdateWriter: group commit of document updates (one INSERT per batch, waiters, failures, reconnects, loops)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections import Counter

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import IntegrityError, connection, connections

from workspace.collab import writer as writer_module
from workspace.collab.models import DocUpdate
from workspace.collab.writer import MAX_BATCH, FileGone, UpdateWriter
from workspace.projects.models import FileNode

pytestmark = pytest.mark.django_db(transaction=True)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the writer's own psycopg connection exists on PostgreSQL only"
)


@pytest.fixture
def update_writer():
    """A writer of the test's own, so nothing of the process-wide one (or of another test) leaks in."""
    writer = UpdateWriter()
    yield writer
    writer.close_sync()


@pytest.fixture
def batches(monkeypatch, update_writer) -> list[int]:
    """The size of every batch written: one INSERT statement (one executemany on SQLite) each."""
    sizes: list[int] = []
    if connection.vendor == "postgresql":
        original = update_writer._send

        def counting(batch, attempt):
            if attempt == 1:  # a batch retried on a new connection is still one batch
                sizes.append(len(batch))
            original(batch, attempt)

        monkeypatch.setattr(update_writer, "_send", counting)
    else:
        original_sync = writer_module._write_batch_sync

        def counting_sync(items):
            sizes.append(len(items))
            original_sync(items)

        monkeypatch.setattr(writer_module, "_write_batch_sync", counting_sync)
    return sizes


def stored(file_id: int) -> list[bytes]:
    return [
        bytes(data) for data in DocUpdate.objects.filter(file_id=file_id).order_by("id").values_list("data", flat=True)
    ]


def missing_file_id() -> int:
    return (FileNode.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1_000_000


def connection_params() -> dict:
    params = connections["default"].get_connection_params()
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    return params


@pytest.mark.embedded
async def test_concurrent_updates_are_each_stored_exactly_once_in_few_batches(
    workspace_with_file, update_writer, batches
):
    _, node = workspace_with_file
    before = await database_sync_to_async(stored)(node.id)
    total = 2 * MAX_BATCH + 100
    updates = [f"update-{i}".encode() + bytes([i % 256]) for i in range(total)]

    results = await asyncio.gather(*(update_writer.persist(node.id, update) for update in updates))

    assert results == [None] * total
    after = await database_sync_to_async(stored)(node.id)
    assert after[: len(before)] == before
    assert Counter(after[len(before) :]) == Counter(updates)  # all of them, none twice
    assert sum(batches) == total
    assert 3 <= len(batches) < total / 10, batches  # group commit, in batches of at most MAX_BATCH
    assert max(batches) <= MAX_BATCH


@pytest.mark.embedded
async def test_a_failed_row_fails_only_its_own_files_updates_the_others_of_the_batch_are_stored(
    workspace_with_file, update_writer, batches
):
    _, node = workspace_with_file
    bad_file_id = await database_sync_to_async(missing_file_id)()
    before = await database_sync_to_async(stored)(node.id)
    failures: list[BaseException] = []
    fanned_out: list[bytes] = []

    results = await asyncio.gather(
        update_writer.persist(node.id, b"good-1", then=lambda: fanned_out.append(b"good-1")),
        update_writer.persist(bad_file_id, b"orphan", on_failure=failures.append),  # violates the foreign key
        update_writer.persist(node.id, b"good-2", then=lambda: fanned_out.append(b"good-2")),
        return_exceptions=True,
    )

    # One batch failed; each file's updates were then written on their own, in order.
    assert batches == [3, 2, 1]
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], FileGone) and failures == [results[1]]
    assert fanned_out == [b"good-1", b"good-2"]
    assert await database_sync_to_async(stored)(node.id) == [*before, b"good-1", b"good-2"]

    await update_writer.persist(node.id, b"after-failure")
    await asyncio.gather(*(update_writer.persist(node.id, f"later-{i}".encode()) for i in range(10)))
    assert await database_sync_to_async(stored)(node.id) == [
        *before,
        b"good-1",
        b"good-2",
        b"after-failure",
        *(f"later-{i}".encode() for i in range(10)),
    ]


@pytest.mark.embedded
async def test_a_single_files_failed_batch_is_not_written_again(workspace_with_file, update_writer, batches):
    bad_file_id = await database_sync_to_async(missing_file_id)()
    results = await asyncio.gather(
        *(update_writer.persist(bad_file_id, f"orphan-{i}".encode()) for i in range(3)), return_exceptions=True
    )
    assert batches == [3]
    assert all(isinstance(result, FileGone) for result in results)
    assert all(isinstance(result.__cause__, IntegrityError | psycopg.IntegrityError) for result in results)


@postgresql_only
@pytest.mark.parametrize("how", ["pgconn-finish", "pg-terminate-backend"])
async def test_a_connection_closed_behind_the_writers_back_is_replaced(workspace_with_file, update_writer, how, caplog):
    _, node = workspace_with_file
    await update_writer.persist(node.id, b"before")
    old = update_writer._connection
    old_pid = old.info.backend_pid

    if how == "pgconn-finish":
        old.pgconn.finish()
    else:
        # The writer's connection still looks open: its next execute fails and the writer retries on a new one.
        async with await psycopg.AsyncConnection.connect(**connection_params(), autocommit=True) as admin:
            cursor = await admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
            assert (await cursor.fetchone())[0] is True
            for _ in range(100):
                cursor = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [old_pid])
                if (await cursor.fetchone())[0] == 0:
                    break
                await asyncio.sleep(0.02)
        assert not old.closed

    with caplog.at_level(logging.WARNING, logger="workspace.collab.writer"):
        await update_writer.persist(node.id, b"after")

    assert update_writer._connection is not old
    assert update_writer._connection.info.backend_pid != old_pid
    assert (await database_sync_to_async(stored)(node.id))[-2:] == [b"before", b"after"]
    if how == "pg-terminate-backend":
        assert "lost its database connection" in caplog.text  # the retry, not a failure


@postgresql_only
async def test_close_sync_closes_the_connection_and_the_next_persist_opens_a_new_one(
    workspace_with_file, update_writer
):
    _, node = workspace_with_file
    await update_writer.persist(node.id, b"one")
    first = update_writer._connection
    assert first is not None and not first.closed

    update_writer.close_sync()
    assert first.closed and update_writer._connection is None
    update_writer.close_sync()  # twice is harmless

    await update_writer.persist(node.id, b"two")
    second = update_writer._connection
    assert second is not None and second is not first and not second.closed
    assert (await database_sync_to_async(stored)(node.id))[-2:] == [b"one", b"two"]


@pytest.mark.embedded
def test_persist_on_a_new_event_loop_starts_over_on_that_loop(workspace_with_file, update_writer, batches):
    _, node = workspace_with_file
    before = stored(node.id)

    async def persist_all(tag: str) -> tuple[asyncio.AbstractEventLoop, object]:
        await asyncio.gather(*(update_writer.persist(node.id, f"{tag}-{i}".encode()) for i in range(20)))
        return asyncio.get_running_loop(), update_writer._connection

    first_loop, first_connection = asyncio.run(persist_all("loop-1"))
    second_loop, second_connection = asyncio.run(persist_all("loop-2"))

    assert first_loop is not second_loop and update_writer._loop is second_loop
    if connection.vendor == "postgresql":
        assert first_connection.closed  # a connection bound to the finished loop is not reused
        assert second_connection is not first_connection and not second_connection.closed
    assert stored(node.id) == [*before, *(f"loop-{n}-{i}".encode() for n in (1, 2) for i in range(20))]
    assert sum(batches) == 40 and len(batches) < 40


@pytest.mark.embedded
async def test_then_runs_once_stored_in_queue_order_before_any_waiter_resumes(workspace_with_file, update_writer):
    _, node = workspace_with_file
    events: list[str] = []

    async def persist(name: str) -> None:
        def then() -> None:
            events.append(f"stored {name}")

        await update_writer.persist(node.id, name.encode(), then=then)
        events.append(f"resumed {name}")

    await asyncio.gather(*(persist(f"u{i}") for i in range(5)))
    fanned_out = [event for event in events if event.startswith("stored")]
    assert fanned_out == [f"stored u{i}" for i in range(5)]
    assert events.index("stored u4") < min(i for i, event in enumerate(events) if event.startswith("resumed"))


@pytest.mark.embedded
async def test_the_step_then_returns_runs_once_per_batch_after_every_then_and_before_any_waiter_resumes(
    workspace_with_file, update_writer
):
    """A room's flush: the updates of one group commit go out to each client as one frame."""
    _, node = workspace_with_file
    events: list[str] = []

    def flush() -> None:
        events.append("flush")

    async def persist(name: str) -> None:
        def then():
            events.append(f"stored {name}")
            return flush

        await update_writer.persist(node.id, name.encode(), then=then)
        events.append(f"resumed {name}")

    # All five are queued while the new writer connects (PostgreSQL) or before its drain runs (SQLite): one batch.
    await asyncio.gather(*(persist(f"u{i}") for i in range(5)))
    assert events[:6] == [*(f"stored u{i}" for i in range(5)), "flush"]
    assert sorted(events[6:]) == [f"resumed u{i}" for i in range(5)]


@pytest.mark.embedded
async def test_then_of_a_stored_update_runs_even_when_its_caller_was_cancelled(workspace_with_file, update_writer):
    _, node = workspace_with_file
    ran = asyncio.Event()
    caller = asyncio.ensure_future(update_writer.persist(node.id, b"cancelled-caller", then=ran.set))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.wait_for(ran.wait(), 5)
    assert b"cancelled-caller" in await database_sync_to_async(stored)(node.id)


@pytest.mark.embedded
async def test_then_is_not_run_for_a_failed_batch_and_a_failing_then_does_not_fail_the_waiters(
    workspace_with_file, update_writer, caplog
):
    _, node = workspace_with_file
    bad_file_id = await database_sync_to_async(missing_file_id)()
    ran: list[str] = []
    with pytest.raises(FileGone):
        await update_writer.persist(bad_file_id, b"orphan", then=lambda: ran.append("orphan"))
    assert ran == []

    def broken() -> None:
        raise RuntimeError("fan-out broke")

    with caplog.at_level(logging.ERROR, logger="workspace.collab.writer"):
        await asyncio.gather(
            update_writer.persist(node.id, b"a", then=broken),
            update_writer.persist(node.id, b"b", then=lambda: ran.append("b")),
        )
    assert ran == ["b"]
    assert "fan-out of a stored update failed" in caplog.text
    assert (await database_sync_to_async(stored)(node.id))[-2:] == [b"a", b"b"]


@postgresql_only
@pytest.mark.parametrize(("setting", "expected"), [("off", "off"), ("on", "on")])
async def test_writer_connection_commits_with_the_configured_synchronous_commit(
    workspace_with_file, update_writer, settings, setting, expected
):
    settings.COLLAB_PG_SYNCHRONOUS_COMMIT = setting
    _, node = workspace_with_file
    await update_writer.persist(node.id, b"x")
    cursor = await update_writer._connection.execute("SHOW synchronous_commit")
    assert (await cursor.fetchone())[0] == expected


@postgresql_only
async def test_batches_on_the_event_loop_build_no_django_connection_objects(workspace_with_file, update_writer):
    """On the event loop every task would get a DatabaseWrapper of its own, garbage for the cycle collector."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    _, node = workspace_with_file
    await update_writer.persist(node.id, b"warm-up")
    created = []
    original = BaseDatabaseWrapper.__init__

    def counting_init(self, *args, **kwargs):
        created.append(self)
        original(self, *args, **kwargs)

    BaseDatabaseWrapper.__init__ = counting_init
    try:
        for i in range(20):
            await asyncio.ensure_future(update_writer.persist(node.id, f"batch-{i}".encode()))
    finally:
        BaseDatabaseWrapper.__init__ = original
    assert created == []


@pytest.mark.embedded
def test_an_unknown_synchronous_commit_mode_stops_the_settings_with_a_clear_error():
    env = {**os.environ, "COLLAB_PG_SYNCHRONOUS_COMMIT": "sometimes", "DJANGO_SETTINGS_MODULE": "workspace.settings"}
    out = subprocess.run([sys.executable, "-c", "import workspace.settings"], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "COLLAB_PG_SYNCHRONOUS_COMMIT='sometimes': not a PostgreSQL mode" in out.stderr


@postgresql_only
async def test_a_batch_larger_than_the_socket_buffer_is_sent_whole_while_the_event_loop_keeps_running(
    workspace_with_file, update_writer, batches, monkeypatch
):
    """The INSERT is written by the event loop as the socket drains, not by one blocking write."""
    _, node = workspace_with_file
    writable = Counter()
    on_writable = writer_module._PostgresBatch._on_writable

    def counting_on_writable(self) -> None:
        writable["calls"] += 1
        on_writable(self)

    monkeypatch.setattr(writer_module._PostgresBatch, "_on_writable", counting_on_writable)
    updates = [bytes([i]) * (1024 * 1024) for i in range(12)]
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.ensure_future(tick())
    try:
        await asyncio.gather(*(update_writer.persist(node.id, update) for update in updates))
    finally:
        ticker.cancel()
    assert batches == [len(updates)]
    assert (await database_sync_to_async(stored)(node.id))[-len(updates) :] == updates
    assert ticks > 1 and writable["calls"] > 0


@postgresql_only
async def test_small_batches_run_statements_prepared_on_the_writers_connection(workspace_with_file, update_writer):
    _, node = workspace_with_file
    await update_writer.persist(node.id, b"alone")
    await asyncio.gather(*(update_writer.persist(node.id, f"three-{i}".encode()) for i in range(3)))
    cursor = await update_writer._connection.execute(
        "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements ORDER BY name"
    )
    executions = dict(await cursor.fetchall())
    assert set(executions) == {f"sparkroom_store_updates_{rows}" for rows in range(1, writer_module.PREPARED_UP_TO + 1)}
    # The first of the three goes out at once (nothing was in flight), the two queued behind it together.
    assert executions["sparkroom_store_updates_1"] == 2 and executions["sparkroom_store_updates_2"] == 1
    assert (await database_sync_to_async(stored)(node.id))[-4:] == [b"alone", b"three-0", b"three-1", b"three-2"]
