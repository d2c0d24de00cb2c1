"""Group commit for document updates: many concurrent updates, one database transaction.

Each caller awaits its own update being durable; while one batch is being written the next one
fills up, so under load the number of commits stays low and latency stays near one commit.

On PostgreSQL the batches go through one psycopg connection per process, on the event loop itself.
A database thread would need the GIL back after every network wait, and behind a busy event loop
each of those waits up to the interpreter's 5 ms switch interval: measured with bench/collab.py,
that convoy put tens of milliseconds on every keystroke. The hot path drives libpq directly from
event-loop callbacks (`_PostgresBatch`): a batch is sent from the call that queues its first update
when nothing is in flight, and its fan-out runs in the callback that reads the commit, so no task
has to be woken at either end (each such wake-up waits for the rest of a busy loop's step). The
connection is kept open (it is idle between batches) and re-opened after an error.

Its commits do not wait for PostgreSQL's WAL flush (COLLAB_PG_SYNCHRONOUS_COMMIT=off, the default): an
update is committed, visible and safe from Sparkroom's own crashes and restarts before it is fanned out,
and the flush follows within PostgreSQL's wal_writer_delay (at most three times it, 600 ms by default).
Only a crash of PostgreSQL or of its machine in that window can lose what had been fanned out, and then
clients hand it back: each y-websocket client answers the server's sync step 1 on reconnect with every
update the server lacks. Waiting for the flush puts a disk sync on every keystroke's path. Set it to "on"
to wait anyway.

SQLite has no network wait: it is written on the one thread that every other database call uses
(SQLite allows one writer).

A failed batch never fails another file's updates: when a batch holding several files' updates fails for a
reason other than a lost connection (e.g. a file deleted meanwhile, whose rows violate the foreign key), each
file's updates are written again on their own, and only the files whose own write fails learn of it
(`FileGone` for a deleted file, `StoreFailed` otherwise), through their `on_failure` and their waiters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, connections, transaction
from django.utils import timezone
from psycopg import pq

from workspace.collab.attribution import AUTHOR_COLUMNS, SERVER, Author
from workspace.collab.models import DocUpdate
from workspace.futures import settle

logger = logging.getLogger(__name__)

MAX_BATCH = 500
# Batches of up to this many updates use statements prepared when the connection opens: PostgreSQL then skips
# parsing and planning them on every keystroke's commit.
PREPARED_UP_TO = 4

# What runs once an update is stored; it may return a finishing step, run once per batch after all of them.
Then = Callable[[], Callable[[], None] | None]
# What runs when an update could not be stored (before its waiter resumes).
OnFailure = Callable[[BaseException], None]
Pending = tuple[int, bytes, asyncio.Future, Then | None, OnFailure | None, Author]


class StoreFailed(Exception):
    """An update could not be stored (the database refused it or could not be reached)."""


class FileGone(StoreFailed):
    """An update could not be stored because its file no longer exists (deleted meanwhile)."""


def _is_foreign_key_violation(error: BaseException) -> bool:
    if isinstance(error, psycopg.errors.ForeignKeyViolation):
        return True
    cause = error.__cause__
    if isinstance(cause, psycopg.errors.ForeignKeyViolation):
        return True
    return isinstance(error, IntegrityError) and "FOREIGN KEY" in str(error).upper()


def as_store_error(error: BaseException, file_id: int) -> StoreFailed:
    """The error a file's waiters see: FileGone for a foreign-key violation, else StoreFailed (chained)."""
    if isinstance(error, StoreFailed):
        return error
    kind = FileGone if _is_foreign_key_violation(error) else StoreFailed
    failure = kind(f"file {file_id}: {'it was deleted' if kind is FileGone else 'the update could not be stored'}")
    failure.__cause__ = error
    return failure


def _by_file(batch: list[Pending]) -> list[list[Pending]]:
    groups: dict[int, list[Pending]] = {}
    for pending in batch:
        groups.setdefault(pending[0], []).append(pending)
    return list(groups.values())


_COLUMNS = ", ".join(("file_id", "data", "created_at", *AUTHOR_COLUMNS))


def _write_batch_sync(items: list[tuple[int, bytes, Author]]) -> None:
    # Plain SQL: model instances and the ORM's insert compiler cost more CPU than the write itself.
    sql = f"INSERT INTO {DocUpdate._meta.db_table} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, [(file_id, data, created_at, *author.row()) for file_id, data, author in items])


def _on_postgresql() -> bool:
    # Not `connection.vendor`: on the event loop every task gets a DatabaseWrapper of its own (asgiref's Local is
    # per context there), and each one built per batch was cyclic garbage that kept the collector busy.
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _run_failures(batch: list[Pending], error: BaseException) -> None:
    for file_id, _, future, _, on_failure, _ in batch:
        failure = as_store_error(error, file_id)
        if on_failure is not None:
            try:
                on_failure(failure)
            except Exception:  # noqa: BLE001 - its waiter must still learn of the failure
                logger.exception("failure handler of file %s failed", file_id)
        if not future.done():
            future.set_exception(failure)


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
        self._task: asyncio.Task | None = None  # SQLite: the drain; PostgreSQL: (re)connecting
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: psycopg.AsyncConnection | None = None
        self._in_flight: _PostgresBatch | None = None
        # One file's updates each, written alone after a batch of several files failed (see the module docstring).
        self._isolated: deque[list[Pending]] = deque()

    async def persist(
        self,
        file_id: int,
        update: bytes,
        then: Then | None = None,
        on_failure: OnFailure | None = None,
        author: Author = SERVER,
    ) -> None:
        """Returns once the update is stored; raises StoreFailed (FileGone for a deleted file) if it was not.
        See `submit`."""
        await self.submit(file_id, update, then, on_failure, author)

    def submit(
        self,
        file_id: int,
        update: bytes,
        then: Then | None = None,
        on_failure: OnFailure | None = None,
        author: Author = SERVER,
    ) -> asyncio.Future:
        """Queue an update now; the future resolves once it is stored (StoreFailed / FileGone if it was not).

        `then` runs as soon as it is stored, before any waiter resumes, in the order the updates were queued,
        and even when nobody awaits the future: the fan-out of a batch happens in the event-loop step that
        learns of its commit. What `then` returns (e.g. a room's flush of its queued frames) runs after every
        `then` of the batch, once however often returned. `on_failure` runs instead when the update could not
        be stored, in the same way. `author`: whom it was written for, stored in the same row."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start over on it
            self.close_sync()
            self._loop, self._task, self._queue, self._isolated = loop, None, deque(), deque()
        future: asyncio.Future = loop.create_future()
        self._queue.append((file_id, update, future, then, on_failure, author))
        self._start()
        return future

    def _start(self) -> None:
        """Write what is queued, unless a batch or a (re)connection is already under way (it goes on after)."""
        if not (self._queue or self._isolated):
            return
        if self._in_flight is not None or (self._task is not None and not self._task.done()):
            return
        if not _on_postgresql():
            self._task = self._loop.create_task(self._drain_sqlite())
        elif self._connection is None or self._connection.closed:
            self._task = self._loop.create_task(self._connect_and_send())
        else:
            self._send(self._next_batch(), attempt=1)

    def _next_batch(self) -> list[Pending]:
        if self._isolated:
            return self._isolated.popleft()
        return [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]

    def _finish(self, batch: list[Pending], error: BaseException | None) -> None:
        if error is None:
            _run_fan_out(pending[3] for pending in batch)
            settle((pending[2] for pending in batch), None)
            return
        groups = _by_file(batch)
        if len(groups) > 1 and not isinstance(error, psycopg.OperationalError | OperationalError):
            # Not this batch's fault alone, maybe: each file's updates are written again on their own.
            logger.info("a batch of %d files failed (%s); writing each file's updates alone", len(groups), error)
            self._isolated.extendleft(reversed(groups))
            return
        _run_failures(batch, error)

    async def _drain_sqlite(self) -> None:
        while self._queue or self._isolated:
            batch = self._next_batch()
            try:
                # Not database_sync_to_async: with CONN_MAX_AGE=0 it closes the connection after every
                # call, and closing the last connection of a WAL database checkpoints it (a third of the
                # embedded server's samples in py-spy under bench/collab.py). The thread's connection stays
                # open between batches; SQLite connections do not go stale.
                await sync_to_async(_write_batch_sync, thread_sensitive=True)([(p[0], p[1], p[5]) for p in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter must learn about the failure
                self._finish(batch, exc)
            else:
                self._finish(batch, None)

    # PostgreSQL ------------------------------------------------------------------------------------
    def _send(self, batch: list[Pending], attempt: int) -> None:
        """One multi-row INSERT in autocommit mode: a single statement is atomic, and a single round trip."""
        self._in_flight = flight = _PostgresBatch(self, self._connection, batch, attempt)
        flight.start()

    def _batch_done(self, flight: _PostgresBatch, error: BaseException | None) -> None:
        self._in_flight = None
        if isinstance(error, psycopg.OperationalError) and self._connection is flight.connection:
            # A broken connection: once more on a new one (a stored update applies idempotently).
            self.close_sync()
            if flight.attempt == 1:
                logger.warning("update writer lost its database connection; reconnecting", exc_info=error)
                self._task = self._loop.create_task(self._connect_and_send(flight.batch))
                return
        self._finish(flight.batch, error)
        self._start()

    async def _connect_and_send(self, retry: list[Pending] | None = None) -> None:
        batch = retry if retry is not None else self._next_batch()
        try:
            await self._open()
        except Exception as exc:  # noqa: BLE001 - this batch fails; the next one tries to connect again
            self._finish(batch, exc)
            self._loop.call_soon(self._start)
            return
        self._send(batch, attempt=2 if retry is not None else 1)

    async def _open(self) -> psycopg.AsyncConnection:
        if self._connection is None or self._connection.closed:
            params = connections["default"].get_connection_params()
            for django_only in ("cursor_factory", "context"):
                params.pop(django_only, None)
            conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            try:
                await conn.execute(f"SET synchronous_commit = {settings.COLLAB_PG_SYNCHRONOUS_COMMIT}")
                for rows in range(1, PREPARED_UP_TO + 1):
                    types = ", ".join(["bigint", "bytea", "integer", "text", "text", "text"] * rows)
                    await conn.execute(f"PREPARE {_statement_name(rows)} ({types}) AS {_insert_sql(rows)}")
            except BaseException:
                conn.pgconn.finish()
                raise
            self._connection = conn
        return self._connection

    def close_sync(self) -> None:
        """Drop the connection without awaiting (its event loop may be gone): closes the socket at once."""
        flight, self._in_flight = self._in_flight, None
        if flight is not None:
            flight.abandon()
        conn, self._connection = self._connection, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()


class _PostgresBatch:
    """One INSERT on the connection's libpq handle, sent at once and read by the event loop's callbacks."""

    def __init__(self, writer: UpdateWriter, connection: psycopg.AsyncConnection, batch: list[Pending], attempt: int):
        self.writer, self.connection, self.batch, self.attempt = writer, connection, batch, attempt
        self._loop = writer._loop
        self._pgconn = connection.pgconn
        self._fd = -1
        self._results: list = []

    def start(self) -> None:
        rows = len(self.batch)
        params = [value for pending in self.batch for value in _row_params(pending)]
        formats = [0, 1, 0, 0, 0, 0] * rows  # data as binary, the rest as text
        try:
            if rows <= PREPARED_UP_TO:
                self._pgconn.send_query_prepared(_statement_name(rows).encode(), params, param_formats=formats)
            else:
                self._pgconn.send_query_params(_insert_sql(rows).encode(), params, param_formats=formats)
            self._fd = self._pgconn.socket
            self._loop.add_reader(self._fd, self._on_readable)
            self._flush()
        except Exception as exc:  # noqa: BLE001 - e.g. the connection is gone: retried on a new one
            self._done(_as_operational_error(exc))

    def _flush(self) -> None:
        # A large batch may not fit the socket's buffer: the rest goes out when the socket is writable.
        if self._pgconn.flush():
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            if not self._pgconn.flush():
                self._loop.remove_writer(self._fd)
        except Exception as exc:  # noqa: BLE001
            self._done(_as_operational_error(exc))

    def _on_readable(self) -> None:
        try:
            self._pgconn.consume_input()
            while not self._pgconn.is_busy():
                result = self._pgconn.get_result()
                if result is None:
                    self._done(self._error())
                    return
                self._results.append(result)
        except Exception as exc:  # noqa: BLE001 - a lost connection: consume_input raises
            self._done(_as_operational_error(exc))

    def _error(self) -> BaseException | None:
        for result in self._results:
            if result.status != pq.ExecStatus.COMMAND_OK:
                return psycopg.errors.error_from_result(result, encoding=self.connection.info.encoding)
        if self._pgconn.status == pq.ConnStatus.BAD:
            return psycopg.OperationalError("the database connection was lost")
        return None

    def abandon(self) -> None:
        """Stop watching the socket (the connection is being closed); the batch's waiters are not resumed."""
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = -1

    def _done(self, error: BaseException | None) -> None:
        if self.writer._in_flight is not self:
            return
        self.abandon()
        self.writer._batch_done(self, error)


def _row_params(pending: Pending) -> tuple[bytes | None, ...]:
    author_id, kind, model, ref = pending[5].row()
    author = None if author_id is None else str(author_id).encode()
    return (str(pending[0]).encode(), pending[1], author, kind.encode(), model.encode(), ref.encode())


def _insert_sql(rows: int) -> str:
    width = 6
    values = ", ".join(
        f"(${width * i + 1}, ${width * i + 2}, now(), {', '.join(f'${width * i + k}' for k in range(3, width + 1))})"
        for i in range(rows)
    )
    return f"INSERT INTO {DocUpdate._meta.db_table} ({_COLUMNS}) VALUES {values}"


def _statement_name(rows: int) -> str:
    return f"sparkroom_store_updates_{rows}"


def _as_operational_error(exc: BaseException) -> BaseException:
    if isinstance(exc, psycopg.Error):
        return exc
    error = psycopg.OperationalError(f"update batch failed: {exc}")
    error.__cause__ = exc
    return error


writer = UpdateWriter()
