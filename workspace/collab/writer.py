"""Group commit for document updates: many concurrent updates, one database transaction.

Each caller awaits its own update being durable; while one batch is being written the next one
fills up, so under load the number of commits stays low and latency stays near one commit.

On PostgreSQL the batches go through one asynchronous psycopg connection per process, on the
event loop itself. A database thread would need the GIL back after every network wait, and behind
a busy event loop each of those waits up to the interpreter's 5 ms switch interval: measured with
bench/collab.py, that convoy put tens of milliseconds on every keystroke. The connection is kept
open (it is idle between batches) and re-opened after an error. SQLite has no network wait: it is
written on the one thread that every other database call uses (SQLite allows one writer).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import psycopg
from channels.db import database_sync_to_async
from django.db import connection, connections, transaction
from django.utils import timezone

from workspace.collab.models import DocUpdate
from workspace.futures import settle

logger = logging.getLogger(__name__)

MAX_BATCH = 500

Pending = tuple[int, bytes, asyncio.Future]


def _write_batch_sync(items: list[tuple[int, bytes]]) -> None:
    # Plain SQL: model instances and the ORM's insert compiler cost more CPU than the write itself.
    sql = f"INSERT INTO {DocUpdate._meta.db_table} (file_id, data, created_at) VALUES (%s, %s, %s)"
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, [(file_id, data, created_at) for file_id, data in items])


class UpdateWriter:
    def __init__(self) -> None:
        self._queue: deque[Pending] = deque()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: psycopg.AsyncConnection | None = None

    async def persist(self, file_id: int, update: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start over on it
            self.close_sync()
            self._loop, self._task, self._queue = loop, None, deque()
        future: asyncio.Future = loop.create_future()
        self._queue.append((file_id, update, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            rows = [(file_id, data) for file_id, data, _ in batch]
            try:
                if connection.vendor == "postgresql":
                    await self._write_postgresql(rows)
                else:
                    await database_sync_to_async(_write_batch_sync)(rows)
            except Exception as exc:  # noqa: BLE001 - every waiter must learn about the failure
                settle((future for *_, future in batch), exc)
            else:
                settle((future for *_, future in batch), None)

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
            self._connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        return self._connection

    def close_sync(self) -> None:
        """Drop the connection without awaiting (its event loop may be gone): closes the socket at once."""
        conn, self._connection = self._connection, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()


writer = UpdateWriter()
