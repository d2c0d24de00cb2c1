"""Group commit for document updates: many concurrent updates, one database transaction.

Each caller awaits its own update being durable; while one batch is being written the next one
fills up, so under load the number of commits stays low and latency stays near one commit.

On PostgreSQL the batches go through one asynchronous psycopg connection per process, on the
event loop itself. A database thread would need the GIL back after every network wait, and behind
a busy event loop each of those waits up to the interpreter's 5 ms switch interval: measured with
bench/collab.py, that convoy put tens of milliseconds on every keystroke. The connection is kept
open (it is idle between batches) and re-opened after an error.

Its commits do not wait for PostgreSQL's WAL flush (COLLAB_PG_SYNCHRONOUS_COMMIT=off, the default): an
update is committed, visible and safe from Sparkroom's own crashes and restarts before it is fanned out,
and the flush follows within PostgreSQL's wal_writer_delay (at most three times it, 600 ms by default).
Only a crash of PostgreSQL or of its machine in that window can lose what had been fanned out, and then
clients hand it back: each y-websocket client answers the server's sync step 1 on reconnect with every
update the server lacks. Waiting for the flush puts a disk sync on every keystroke's path. Set it to "on"
to wait anyway.

SQLite has no network wait: it is written on the one thread that every other database call uses
(SQLite allows one writer).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from workspace.collab.models import DocUpdate
from workspace.futures import settle

logger = logging.getLogger(__name__)

MAX_BATCH = 500

# What runs once an update is stored; it may return a finishing step, run once per batch after all of them.
Then = Callable[[], Callable[[], None] | None]
Pending = tuple[int, bytes, asyncio.Future, Then | None]


def _write_batch_sync(items: list[tuple[int, bytes]]) -> None:
    # Plain SQL: model instances and the ORM's insert compiler cost more CPU than the write itself.
    sql = f"INSERT INTO {DocUpdate._meta.db_table} (file_id, data, created_at) VALUES (%s, %s, %s)"
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, [(file_id, data, created_at) for file_id, data in items])


def _on_postgresql() -> bool:
    # Not `connection.vendor`: on the event loop every task gets a DatabaseWrapper of its own (asgiref's Local is
    # per context there), and each one built per batch was cyclic garbage that kept the collector busy.
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _run_fan_out(thens: Iterable[Then | None]) -> None:
    finishing: dict[Callable[[], None], None] = {}
    for then in thens:
        if then is None:
            continue
        try:
            finish = then()
        except Exception:  # noqa: BLE001 - the update is stored; its waiter must still resume
            logger.exception("fan-out of a stored update failed")
            continue
        if finish is not None:
            finishing[finish] = None
    for finish in finishing:
        try:
            finish()
        except Exception:  # noqa: BLE001 - as above
            logger.exception("fan-out of a stored batch failed")


class UpdateWriter:
    def __init__(self) -> None:
        self._queue: deque[Pending] = deque()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: psycopg.AsyncConnection | None = None

    async def persist(self, file_id: int, update: bytes, then: Then | None = None) -> None:
        """Returns once the update is stored. `then` runs as soon as it is stored, before any waiter resumes,
        in the order the updates were queued, and even when the caller was cancelled meanwhile: the fan-out
        of a batch happens in the event-loop step that learns of its commit. What `then` returns (e.g. a
        room's flush of its queued frames) runs after every `then` of the batch, once however often returned."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start over on it
            self.close_sync()
            self._loop, self._task, self._queue = loop, None, deque()
        future: asyncio.Future = loop.create_future()
        self._queue.append((file_id, update, future, then))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            rows = [(file_id, data) for file_id, data, _, _ in batch]
            try:
                if _on_postgresql():
                    await self._write_postgresql(rows)
                else:
                    # Not database_sync_to_async: with CONN_MAX_AGE=0 it closes the connection after every
                    # call, and closing the last connection of a WAL database checkpoints it (a third of the
                    # embedded server's samples in py-spy under bench/collab.py). The thread's connection stays
                    # open between batches; SQLite connections do not go stale.
                    await sync_to_async(_write_batch_sync, thread_sensitive=True)(rows)
            except Exception as exc:  # noqa: BLE001 - every waiter must learn about the failure
                settle((future for _, _, future, _ in batch), exc)
            else:
                _run_fan_out(then for *_, then in batch)
                settle((future for _, _, future, _ in batch), None)

    async def _write_postgresql(self, rows: list[tuple[int, bytes]]) -> None:
        """One transaction; on a broken connection, once more on a new one (a stored update applies idempotently)."""
        # One multi-row INSERT in autocommit mode: a single statement is atomic, and a single round trip
        # (executemany + COMMIT would be two, each waiting its turn on a busy event loop).
        sql = f"INSERT INTO {DocUpdate._meta.db_table} (file_id, data, created_at) VALUES " + ", ".join(
            ["(%s, %s, now())"] * len(rows)
        )
        params = [value for row in rows for value in row]
        for attempt in (1, 2):
            conn = await self._open()
            try:
                await conn.execute(sql, params)
                return
            except psycopg.OperationalError:
                self.close_sync()
                if attempt == 2:
                    raise
                logger.warning("update writer lost its database connection; reconnecting", exc_info=True)

    async def _open(self) -> psycopg.AsyncConnection:
        if self._connection is None or self._connection.closed:
            params = connections["default"].get_connection_params()
            for django_only in ("cursor_factory", "context"):
                params.pop(django_only, None)
            conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            try:
                await conn.execute(f"SET synchronous_commit = {settings.COLLAB_PG_SYNCHRONOUS_COMMIT}")
            except BaseException:
                conn.pgconn.finish()
                raise
            self._connection = conn
        return self._connection

    def close_sync(self) -> None:
        """Drop the connection without awaiting (its event loop may be gone): closes the socket at once."""
        conn, self._connection = self._connection, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()


writer = UpdateWriter()
