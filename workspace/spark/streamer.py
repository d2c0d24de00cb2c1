"""The AI peer: applies streamed text to a file's shared Y.Text in real time, then accepts or rejects it.

A `SparkSession` is a local client of the file's room (like Hocuspocus' direct connection): it edits the room's
own document, and every edit goes the room's one way (`Room.edit`: stored, then fanned out to every client here
and in other processes). It writes with transactions of its own origin:

- text goes in at a position that follows its own last character (kept current from the text's change events),
  so edits elsewhere (before, after, even inside the AI region) never move or corrupt it;
- a piece goes out at once when the last update is older than SPARK_FLUSH_INTERVAL_MS; only pieces arriving
  faster than that are coalesced into one update;
- the Yjs ids of everything it inserts, and the text it replaced, are kept in an `EditRecord` (stored on the request),
  so Reject (`spark.undo`) removes exactly its insertions and restores the replaced text, even after others edited,
  from any process and after a restart.

Control messages ("spark.control": cancel / accept / reject) reach it on its bus topic (`control_topic`), so any
Daphne process can steer a session running in another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from django.conf import settings
from pycrdt import Text

from workspace.bus import get_bus
from workspace.collab import registry
from workspace.collab.attribution import SPARK, Author
from workspace.collab.room import Room, RoomClosed
from workspace.collab.ydoc import TEXT_NAME
from workspace.projects.models import Role, role_at_least
from workspace.spark.positions import TrackedIndex, byte_slice
from workspace.spark.undo import EditRecord, delete_set_update, id_position, own_clock, position_of, utf16_len

logger = logging.getLogger(__name__)

AI_NAME = "Spark AI"
AI_COLOR = "#f5a623"
AWARENESS_REFRESH_SECONDS = 10.0
AWARENESS_MIN_INTERVAL = 0.05
MAX_PUBLISHES_IN_FLIGHT = 4
CONTROL = "spark.control"


def control_topic(request_id: int) -> str:
    """The bus topic a live session listens on for Stop / Accept / Reject sent from any process."""
    return f"spark.control.{request_id}"


@dataclass
class StreamStats:
    """Live figures of one stream; times are time.monotonic_ns()."""

    started_ns: int = field(default_factory=time.monotonic_ns)
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    pieces: int = 0
    usage_tokens: int | None = None
    retries: int = 0
    overhead_sum_ns: int = 0
    overhead_max_ns: int = 0
    overhead_count: int = 0
    # Sparkroom's share of the TTFT: the request arrived (started_ns) -> it was written to the model server, and the
    # first token was read -> its update was handed on (or, for chat, its delta sent).
    request_written_ns: int | None = None
    first_published_ns: int | None = None

    def on_request_written(self) -> None:
        if self.request_written_ns is None:
            self.request_written_ns = time.monotonic_ns()

    def on_token(self) -> None:
        """Called by the source for every token (content delta) it receives."""
        now = time.monotonic_ns()
        if self.first_token_ns is None:
            self.first_token_ns = now
        self.last_token_ns = now
        self.pieces += 1

    def on_published(self, arrivals: list[int]) -> None:
        now = time.monotonic_ns()
        if self.first_published_ns is None:
            self.first_published_ns = now
        for arrived in arrivals:
            delay = now - arrived
            self.overhead_sum_ns += delay
            self.overhead_max_ns = max(self.overhead_max_ns, delay)
        self.overhead_count += len(arrivals)

    @property
    def tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.pieces

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_ns is None else (self.first_token_ns - self.started_ns) / 1e6

    @property
    def ttft_share_ms(self) -> float | None:
        if None in (self.request_written_ns, self.first_token_ns, self.first_published_ns):
            return None
        before = self.request_written_ns - self.started_ns
        after = self.first_published_ns - self.first_token_ns
        return (before + after) / 1e6

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_ns is None or self.last_token_ns is None or self.last_token_ns <= self.first_token_ns:
            return None
        return self.tokens / ((self.last_token_ns - self.first_token_ns) / 1e9)

    @property
    def overhead_ms(self) -> float | None:
        return self.overhead_sum_ns / self.overhead_count / 1e6 if self.overhead_count else None

    @property
    def overhead_max_ms(self) -> float | None:
        return self.overhead_max_ns / 1e6 if self.overhead_count else None

    def duration_ms(self) -> float:
        return (time.monotonic_ns() - self.started_ns) / 1e6

    def live(self) -> dict:
        return {
            "ttft_ms": _round(self.ttft_ms),
            "tokens": self.tokens,
            "tokens_per_second": _round(self.tokens_per_second),
            "overhead_ms": _round(self.overhead_ms, 3),
            "overhead_max_ms": _round(self.overhead_max_ms, 3),
            "ttft_share_ms": _round(self.ttft_share_ms, 3),
            "retries": self.retries,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


ControlHandler = Callable[[str, dict], Awaitable[None]]


class SparkSession:
    """One AI edit of one file; see the module docstring."""

    def __init__(
        self,
        request_id: int,
        file_id: int,
        user_id: int | None = None,
        *,
        flush_interval_ms: float | None = None,
        model: str = "",
    ) -> None:
        self.file_id = file_id
        self.user_id = user_id
        self.model = model  # the model answering: with the user, whom the session's writes are stored for
        # The request's id names the session's writes (origin) and its control topic. A session may start (join the
        # room, have the model asked) before its request is recorded, and takes the id with `bind` before it writes.
        self.request_id: int | None = None
        self.origin = self.channel_name = f"spark:{request_id if request_id is not None else uuid.uuid4().hex}"
        self.control_topic = ""
        self._bound = asyncio.Event()
        if request_id is not None:
            self._name(request_id)
        self.flush_interval = (
            settings.SPARK_FLUSH_INTERVAL_MS if flush_interval_ms is None else flush_interval_ms
        ) / 1000.0
        self.room: Room | None = None
        self.text: Text | None = None
        # What Reject needs (the ids of the AI's characters, the replaced text); stored on the request.
        self.record = EditRecord()
        # The AI peer's awareness client id (browsers keep uint32 ids).
        self.awareness_id = random.randint(1, 2**32 - 1)
        self.stats = StreamStats()
        self.inserted = ""
        self.replaced = ""
        self.on_control: ControlHandler | None = None
        # Why the session lost its document (its room was reset, its file deleted); Reject is impossible then.
        self.lost: str | None = None
        # Target and cursor, as byte indices followed through everyone else's changes (see TrackedIndex).
        self._anchor: TrackedIndex | None = None
        self._selection_end: TrackedIndex | None = None
        self._cursor: TrackedIndex | None = None
        self._text_events = None
        self._writing = False
        self._replace = False
        self._refining = False
        self._parent_text = ""
        self._pending: list[tuple[str, int]] = []
        self._publishing: set[asyncio.Future] = set()
        self._wake = asyncio.Event()
        self._last_flush = 0.0
        self._reader: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        self._controls: set[asyncio.Task] = set()
        self._awareness_clock = 0
        self._awareness_state: str | None = None
        self._awareness_sent_at = 0.0
        self.cancelled = False
        self.closed = False

    def _name(self, request_id: int) -> None:
        self.request_id = request_id
        self.origin = f"spark:{request_id}"
        self.control_topic = control_topic(request_id)

    @property
    def author(self) -> Author:
        """Whom the session's writes are stored for: the asking user, through Spark and its model."""
        return Author(self.user_id, SPARK, self.model, str(self.request_id or ""))

    async def bind(self, request_id: int) -> None:
        """The request is recorded: the session takes its id (and listens on its control topic)."""
        self._name(request_id)
        self._bound.set()  # writing needs only the id; the subscription must not hold the first token back
        if self.room is not None:
            await get_bus().subscribe(self.control_topic, self._on_control_message)

    # Joining the room ----------------------------------------------------------------------------
    async def open(self) -> str:
        """Join the file's room as a local client; returns the document's current text."""
        self.room = await registry.acquire(self.file_id, self)
        self.text = self.room.doc.get(TEXT_NAME, type=Text)
        self._text_events = self.text.observe(self._on_text_event)
        if self.request_id is not None:
            await get_bus().subscribe(self.control_topic, self._on_control_message)
            self._bound.set()
        self._heartbeat = asyncio.create_task(self._keep_awareness_alive(), name=f"spark-aware-{self.request_id}")
        return str(self.text)

    # As a client of the room
    def push(self, frame: bytes) -> None:
        """The session reads the room's document itself: it needs no frames."""

    async def end(self, code: int, reason: str) -> None:
        """The room was reset or its file deleted: the document this session edited is gone."""
        self.lost = reason
        self.cancel()

    async def apply_role(self, role: str | None) -> None:
        """The requesting user may no longer edit: the stream stops (what it wrote stays pending)."""
        if not role_at_least(role, Role.EDITOR):
            self.cancel()

    def _on_text_event(self, event) -> None:
        if self._writing:
            return  # the session's own insert moves its positions itself
        for tracked in (self._anchor, self._selection_end, self._cursor):
            if tracked is not None:
                tracked.apply(event.delta)

    def set_target(self, start: int, end: int | None = None) -> None:
        """Where the text goes: insert at `start`, or replace [start, end) when end > start (byte offsets)."""
        end = start if end is None else end
        start_index, end_index = sorted((max(0, start), min(max(0, end), len(self.text))))
        start_index = min(start_index, len(self.text))
        self._replace = end_index > start_index
        if self._replace:
            # Anchor to the first and last selected characters: text typed around the selection stays out.
            self._anchor = TrackedIndex(start_index, after=True)
            self._selection_end = TrackedIndex(end_index, after=False)
        else:
            # Right after the character before the cursor; at the very start, text typed there goes first.
            self._anchor = TrackedIndex(start_index, after=start_index == 0)

    def set_refine_target(self, parent: EditRecord, parent_text: str) -> None:
        """Replace a pending edit's AI text (a refinement): the first piece deletes exactly the parent thread's AI
        characters and goes where its first character was; the record carries the thread on."""
        self.record = parent.refinement()
        self._refining = True
        self._parent_text = parent_text
        self._replace = False
        self._anchor = None

    def current_selection(self) -> tuple[int, int]:
        start = self._anchor.index if self._anchor else 0
        end = self._selection_end.index if self._replace and self._selection_end else start
        return start, max(start, end)

    # Streaming -----------------------------------------------------------------------------------
    async def stream(
        self, pieces: AsyncIterator[str], on_progress: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Apply pieces as they arrive until the source ends; raises what the source raised.

        `cancel()` stops reading at once (closing the model's HTTP response) and returns normally.
        """
        self._reader = asyncio.create_task(self._read(pieces), name=f"spark-read-{self.request_id}")
        self._reader.add_done_callback(lambda _: self._wake.set())  # the loop below must see the end
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._bound.is_set() and not self.cancelled:
                await self._bound.wait()  # the first write carries the request's id
            if self.cancelled:
                break
            delay = self._last_flush + self.flush_interval - loop.time()
            if delay > 0 and not self._reader.done():
                await asyncio.sleep(delay)
                if self.cancelled:
                    break
            # Spacing is measured from the start of the previous flush: when publishing takes longer than the
            # interval, the next batch goes out as soon as it is done (natural batching, no added wait).
            self._last_flush = loop.time()
            await self._flush()
            if on_progress is not None:
                await on_progress()
            if self._reader.done() and not self._pending:
                break
        await self.drain()
        if self.cancelled:
            self._pending.clear()
            await _finish_task(self._reader)
            return
        self._reader.result()

    async def _read(self, pieces: AsyncIterator[str]) -> None:
        try:
            async for piece in pieces:
                if piece:
                    self._pending.append((piece, time.monotonic_ns()))
                    self._wake.set()
        finally:
            self._wake.set()
            close = getattr(pieces, "aclose", None)
            if close is not None:
                await close()

    def cancel(self) -> None:
        """Stop now: cancel the read (and so the model's HTTP response); unapplied pieces are dropped."""
        self.cancelled = True
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        self._wake.set()
        self._bound.set()

    async def _flush(self) -> None:
        if not self._pending:
            return
        # Storing (then fanning out) overlaps with the next batches up to a point: their commits share a group commit
        # instead of queueing behind each other (Yjs applies updates in any order). Beyond that the batch waits, and
        # takes in what arrives meanwhile: a slow store makes batches bigger, never a backlog.
        while len(self._publishing) >= MAX_PUBLISHES_IN_FLIGHT:
            await asyncio.wait(self._publishing, return_when=asyncio.FIRST_COMPLETED)
        batch, self._pending = self._pending, []
        if not batch:
            return
        arrivals = [arrived for _, arrived in batch]
        stored = self._apply("".join(piece for piece, _ in batch))
        if stored is None:
            self.stats.on_published(arrivals)
        else:
            self._publishing.add(stored)
            stored.add_done_callback(lambda done: self._published(done, arrivals))
        # The AI cursor moves with every flush; throttled so a fast stream does not double the traffic.
        if time.monotonic() - self._awareness_sent_at >= AWARENESS_MIN_INTERVAL:
            self._publish_awareness()

    def _published(self, stored: asyncio.Future, arrivals: list[int]) -> None:
        self._publishing.discard(stored)
        if not stored.cancelled() and stored.exception() is None:
            self.stats.on_published(arrivals)

    async def drain(self) -> None:
        """Wait until every applied piece is stored and fanned out; raises if storing one failed."""
        while self._publishing:
            done, _ = await asyncio.wait(set(self._publishing))
            for stored in done:
                self._publishing.discard(stored)
                stored.result()

    async def finish(self) -> None:
        """After the stream: show the final region (pending accept/reject)."""
        self._publish_awareness()

    def _room(self) -> Room:
        if self.room is None or self.lost is not None:
            raise RoomClosed(self.lost or "the Spark session is not open")
        return self.room

    def _apply(self, piece: str) -> asyncio.Future | None:
        """Write a piece into the room's document (one transaction of this session's origin); the future of its
        store and fan-out."""
        room = self._room()
        stored = room.edit(self.origin, lambda: self._insert(piece), growth=len(piece.encode()), author=self.author)
        self.inserted += piece
        return stored

    def _insert(self, piece: str) -> None:
        doc = self.room.doc
        self._writing = True
        try:
            with doc.transaction(origin=self.origin):
                index = self._first_index() if self._cursor is None else self._cursor.index
                clock = own_clock(doc)
                self.text.insert(index, piece)
                self.record.add(doc.client_id, clock, utf16_len(piece))
        finally:
            self._writing = False
        # Follow our own last character: text others type right after it stays after the AI's.
        self._cursor = TrackedIndex(index + len(piece.encode()), after=False)

    def _first_index(self) -> int:
        """Where the first piece goes; a replace deletes the selection (a refinement: the earlier AI text) first,
        in the same transaction."""
        if self._refining:
            doc = self.room.doc
            self.replaced = self._parent_text
            doc.apply_update(delete_set_update(self.record.items))
            index = position_of(doc, self.text, *self.record.at) if self.record.at else None
            return len(self.text) if index is None else index
        index = min(self._anchor.index if self._anchor else 0, len(self.text))
        if self._replace and self._selection_end is not None:
            end = min(max(index, self._selection_end.index), len(self.text))
            self.replaced = self.record.restore = byte_slice(str(self.text), index, end)
            if end > index:
                del self.text[index:end]
        return index

    # Settling ------------------------------------------------------------------------------------
    async def accept(self) -> None:
        await self.close()

    def region(self) -> tuple[int, int] | None:
        """Current byte range of the AI text (None before anything was written)."""
        if self._region_start is None or self._cursor is None:
            return None
        start, end = self._region_start.get_index(), self._cursor.get_index()
        return (start, end) if end >= start else (end, end)

    # The AI peer's awareness ---------------------------------------------------------------------
    def _publish_awareness(self, gone: bool = False) -> None:
        room = self.room
        if room is None or self.lost is not None:
            return
        if gone:
            state = "null"
        else:
            selection = self._awareness_selection()
            if selection is None:
                return
            state = json.dumps(
                {
                    "user": {"name": AI_NAME, "color": AI_COLOR, "ai": True, "spark_request_id": self.request_id},
                    "selection": selection,
                }
            )
        if state == self._awareness_state and not gone:
            return
        self._awareness_state = state
        self._awareness_clock += 1
        self._awareness_sent_at = time.monotonic()
        room.set_peer_awareness(self.awareness_id, self._awareness_clock, state, self.origin)

    def _awareness_selection(self) -> dict | None:
        """The AI region as Y.RelativePosition JSON: from its first to its last character, named by id (exact in
        browsers whatever the characters); None before the first piece."""
        own = self.record.own
        if not own:
            return None  # shown from the first piece on
        first, last = own[0], own[-1]
        return {
            "anchor": id_position(first[0], first[1], 0),
            "head": id_position(last[0], last[1] + last[2] - 1, -1),
        }

    def _refresh_awareness(self) -> None:
        # Browsers drop awareness states not renewed within 30 s; a pending region must stay visible.
        self._awareness_state = None
        self._publish_awareness()

    async def _keep_awareness_alive(self) -> None:
        while not self.closed:
            await asyncio.sleep(AWARENESS_REFRESH_SECONDS)
            try:
                self._refresh_awareness()
            except Exception:  # noqa: BLE001 - the cursor comes back with the next refresh
                logger.info("spark session %s could not refresh its cursor", self.request_id, exc_info=True)

    # Control from any process --------------------------------------------------------------------
    def _on_control_message(self, message: dict) -> None:
        if message.get("type") != CONTROL or self.on_control is None:
            return
        task = asyncio.get_running_loop().create_task(self.on_control(message.get("action", ""), message))
        self._controls.add(task)
        task.add_done_callback(self._controls.discard)

    async def close(self) -> None:
        """Leave the room and remove the AI cursor. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        try:
            self._publish_awareness(gone=True)
        except Exception:  # noqa: BLE001 - the room may be gone already
            logger.info("spark session %s could not remove its cursor", self.request_id, exc_info=True)
        if self.control_topic:
            with contextlib.suppress(Exception):
                await get_bus().unsubscribe(self.control_topic, self._on_control_message)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await _finish_task(self._heartbeat)
        if self._text_events is not None and self.text is not None:
            with contextlib.suppress(Exception):
                self.text.unobserve(self._text_events)
            self._text_events = None
        room, self.room = self.room, None
        if room is not None:
            registry.release(room, self)


async def _finish_task(task: asyncio.Task | None) -> None:
    if task is None:
        return
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
