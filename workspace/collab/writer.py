"""Group commit for document updates: many concurrent updates, one database transaction.

Each caller awaits its own update being durable; while one batch is being written the next one
fills up, so under load the number of commits stays low and latency stays near one commit.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from django.db import transaction

from workspace.collab.models import DocUpdate

MAX_BATCH = 500


def _write_batch(items: list[tuple[int, bytes]]) -> list[int]:
    with transaction.atomic():
        rows = DocUpdate.objects.bulk_create([DocUpdate(file_id=f, data=d) for f, d in items])
    return [row.id for row in rows]


class UpdateWriter:
    def __init__(self) -> None:
        self._queue: list[tuple[int, bytes, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def persist(self, file_id: int, update: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start over on it
            self._loop, self._task, self._queue = loop, None, []
        future: asyncio.Future = loop.create_future()
        self._queue.append((file_id, update, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await database_sync_to_async(_write_batch)([(f, d) for f, d, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter must learn about the failure
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)


writer = UpdateWriter()
