"""Group commit for document updates: many concurrent updates, one database transaction.

Each caller awaits its own update being durable; while one batch is being written the next one
fills up, so under load the number of commits stays low and latency stays near one commit. A burst
of batches is written in one hop to the database thread (one connection), and every batch's callers
are woken as soon as that batch is committed; the thread lingers briefly for the next batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from workspace.collab.models import DocUpdate

MAX_BATCH = 500
# How long the database thread waits for more updates before handing back (and, with CONN_MAX_AGE=0,
# closing its connection): under steady typing one connection serves every batch instead of one each.
LINGER_SECONDS = 0.1

Pending = tuple[int, bytes, asyncio.Future]


def _write_batch(items: list[tuple[int, bytes]]) -> None:
    # Plain SQL: model instances and the ORM's insert compiler cost more CPU than the write itself.
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = f"INSERT INTO {DocUpdate._meta.db_table} (file_id, data, created_at) VALUES (%s, %s, %s)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, [(file_id, data, created_at) for file_id, data in items])


def _settle(batch: list[Pending], error: BaseException | None) -> None:
    for *_, future in batch:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class UpdateWriter:
    def __init__(self) -> None:
        # Appended on the event loop, popped in the database thread: deque operations are thread-safe.
        self._queue: deque[Pending] = deque()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._more = threading.Event()
        # Its own database thread, so lingering never holds up the shared one of database_sync_to_async.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-writer")

    async def persist(self, file_id: int, update: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start over on it
            self._loop, self._task, self._queue = loop, None, deque()
        future: asyncio.Future = loop.create_future()
        self._queue.append((file_id, update, future))
        self._more.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._queue:
            if connection.vendor == "sqlite":
                # SQLite allows one writer at a time (and shared-cache test databases fail instead of waiting):
                # stay on the one thread every other database call uses, and do not linger there.
                await database_sync_to_async(self._write_pending)(self._queue, self._loop, None)
            else:
                write = sync_to_async(self._write_pending, thread_sensitive=False, executor=self._executor)
                await write(self._queue, self._loop, self._more)

    @staticmethod
    def _write_pending(queue: deque[Pending], loop: asyncio.AbstractEventLoop, more: threading.Event | None) -> None:
        """Database thread: write batches until none arrive for a moment, waking each batch's callers."""
        close_old_connections()
        try:
            UpdateWriter._write_until_idle(queue, loop, more)
        finally:
            close_old_connections()  # honours CONN_MAX_AGE, like database_sync_to_async

    @staticmethod
    def _write_until_idle(queue: deque[Pending], loop: asyncio.AbstractEventLoop, more: threading.Event | None) -> None:
        while True:
            while queue:
                batch = [queue.popleft() for _ in range(min(MAX_BATCH, len(queue)))]
                try:
                    _write_batch([(f, d) for f, d, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiter must learn about the failure
                    loop.call_soon_threadsafe(_settle, batch, exc)
                    continue
                loop.call_soon_threadsafe(_settle, batch, None)
            if more is None:
                return
            more.clear()
            if not queue and not more.wait(LINGER_SECONDS):
                return


writer = UpdateWriter()
