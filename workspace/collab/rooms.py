"""Per-process live state of open documents: the pycrdt Doc, awareness and local clients of each room.

Every Daphne process holds its own replica of each document that has local clients. Replicas stay
equal because every accepted update is persisted and then fanned out: directly to the clients of the
same process, and once per process (not once per client) through the channel layer, where each room
has one channel in the group `ydoc.<file_id>`. Messages a process sent itself come back to it and are
skipped by their msg_id; applying an update twice would be a no-op for a CRDT anyway.

A room that is the only member of its group publishes nothing: each group send returns how many
processes are subscribed (RedisPubSubLayer), and a reply of one (this process) with no other local
member makes the room stop publishing. Whoever joins the group later announces itself with a hello
(`announce`); every room answers with its whole state and publishes again from then on. Nothing is
lost in between: an update the room did not publish was committed either before the newcomer loaded
the document from the store, or after its hello was published, so the answer carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from pycrdt import Doc, TransactionEvent, merge_updates

from workspace.broadcast import remember_server_loop
from workspace.collab import protocol, store
from workspace.collab.access import CLOSE_GONE, CLOSE_RESYNC, current_roles_by_file
from workspace.collab.awareness import Identity, RoomAwareness
from workspace.collab.writer import FileGone, writer
from workspace.collab.ydoc import new_doc
from workspace.pubsub_layer import RESUBSCRIBED

logger = logging.getLogger(__name__)

SEEN_LIMIT = 4096
# redis-py refuses (instead of queueing) beyond its pool size of 100: keep concurrent group sends below it.
MAX_CONCURRENT_GROUP_SENDS = 32
# Origin of merged updates: they come from several clients of one process, none of them in another process.
MERGED_ORIGIN = "ydoc-merged"
# Group messages besides updates and awareness: a new member's announcement, and a room's answer to it.
HELLO = "ydoc.hello"
STATE = "ydoc.state"
# Sent to a file's group once the file was deleted: every room of it closes its clients.
DELETED = "ydoc.deleted"


class RoomClosed(Exception):
    """The room was reset (a failed store, a deleted file) or closed: its clients reconnect to a new one."""


class DocumentTooLarge(ValueError):
    """An update that would take the document over COLLAB_MAX_DOC_BYTES."""


class RoomClient(Protocol):
    channel_name: str
    user_id: int | None

    def push(self, frame: bytes) -> None:
        """Send a frame without making the room wait (queued, with back-pressure, by the client's outbox)."""

    async def end(self, code: int, reason: str) -> None:
        """Close the client's connection (the room was reset or its file deleted)."""

    async def apply_role(self, role: str | None) -> None:
        """The client's current role from the room's periodic check (None: no longer a member)."""


_MSG_ID_PREFIX = uuid.uuid4().hex[:12]
_msg_counter = itertools.count()


def new_msg_id() -> str:
    """Unique across processes (random per process, then a counter): uuid4 per keystroke costs a getrandom call."""
    return f"{_MSG_ID_PREFIX}{next(_msg_counter):x}"


def room_group(file_id: int) -> str:
    return f"ydoc.{file_id}"


def hello_message(origin: str, msg_id: str | None = None) -> dict:
    """A new member's announcement: the rooms of the group answer with their whole state and keep publishing."""
    return {"type": HELLO, "origin": origin, "msg_id": msg_id or new_msg_id()}


ROOMS_LAYER = "rooms"


def rooms_layer() -> BaseChannelLayer:
    """The channel layer of the rooms' traffic (see settings.CHANNEL_LAYERS)."""
    return get_channel_layer(ROOMS_LAYER)


_send_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _group_send_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _send_slots.get(loop)
    if slots is None:
        _send_slots.clear()  # a new event loop (tests): semaphores are bound to the loop that first used them
        slots = _send_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_GROUP_SENDS)
    return slots


class Room:
    def __init__(self, file_id: int, doc: Doc, layer: BaseChannelLayer | None = None) -> None:
        self.file_id = file_id
        self.doc = doc
        self._layer = layer
        # False once a group send came back with "no other process": publishing stops until a hello arrives.
        self._other_processes = True
        # Bumped by every hello: a subscriber count from a send older than the hello proves nothing.
        self._hellos = 0
        self.clients: dict[str, RoomClient] = {}
        self.awareness = RoomAwareness()
        self.channel: str | None = None
        # Why the room stopped taking updates (reset after a failed store, file deleted); None while it serves.
        self.closed_reason: str | None = None
        # Upper bound of the document's encoded size: exact when measured, plus every update accepted since.
        self.size_estimate = 0
        self._size_measured = False
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_change: bytes | None = None
        self._outbox: list[dict] = []
        self._deliveries: list[tuple[bytes, bytes, str | None]] = []
        self._sender: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None
        self._ending: asyncio.Task | None = None
        doc.observe(self._on_transaction)

    @property
    def local_clients(self) -> int:
        return len(self.clients)

    @property
    def layer(self) -> BaseChannelLayer:
        return self._layer or rooms_layer()

    def _on_transaction(self, event: TransactionEvent) -> None:
        self._last_change = event.update

    def own_msg_id(self) -> str:
        """A fresh id for a message this room sends, already marked seen: its copy coming back is skipped."""
        msg_id = new_msg_id()
        self.mark_seen(msg_id)
        return msg_id

    def mark_seen(self, msg_id: str) -> bool:
        """Remember a message id; False when it was already handled here."""
        if msg_id in self._seen:
            return False
        self._seen[msg_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def apply_new_part(self, update: bytes) -> bytes | None:
        """Apply an update (e.g. another room's whole state); the part of it that was new here, or None."""
        self._last_change = None
        self.doc.apply_update(update)
        change, self._last_change = self._last_change, None
        return None if change in (None, b"", b"\x00\x00") else change

    def state_for(self, state_vector: bytes) -> bytes:
        return self.doc.get_update(state_vector) if state_vector else self.doc.get_update()

    # Accepting updates -----------------------------------------------------------------------------
    async def accept(
        self, update: bytes, origin: str, *, frame: bytes | None = None, sender_channel: str | None = None
    ) -> bool:
        """The one recipe for an update, whoever makes it (a browser, a server-side writer): apply it to the
        replica, store it, then fan it out (this process's other clients, and the other processes).

        Returns False for an update that changed nothing (nothing stored). Raises ValueError when it is
        malformed, DocumentTooLarge over COLLAB_MAX_DOC_BYTES, RoomClosed once the room was reset, and
        writer.StoreFailed (FileGone) when it could not be stored: the room is then reset (`reset`), so no
        replica keeps an update the store does not have. `origin` is the channel of the client it came from
        (it gets no copy); `frame`: the client's frame, forwarded as received; `sender_channel`: a group member
        of this process the update comes from (a Spark stream), which needs no copy from the group either.
        """
        if self.closed_reason is not None:
            raise RoomClosed(self.closed_reason)
        self._check_size(len(update))
        msg_id = self.own_msg_id()
        # What is stored and sent is what changed the replica: that includes structs that were waiting for
        # this update (pending), and leaves out what the replica already had.
        change = self.apply_new_part(update)
        if change is None:
            return False
        if change != update or frame is None:
            frame = protocol.sync_update(change)
        self.size_estimate += len(change)
        self._size_measured = False
        fan_out = partial(self._fan_out_stored, change, frame, origin, msg_id, sender_channel)
        await writer.persist(self.file_id, change, then=fan_out, on_failure=self.reset)
        return True

    def _check_size(self, incoming: int) -> None:
        limit = settings.COLLAB_MAX_DOC_BYTES
        if self.size_estimate + incoming <= limit:
            return
        if not self._size_measured:  # the estimate adds up updates that merged smaller: measure once
            self.size_estimate = len(self.doc.get_update())
            self._size_measured = True
            if self.size_estimate + incoming <= limit:
                return
        raise DocumentTooLarge(f"this change would take the document over its limit of {limit} bytes")

    def _fan_out_stored(
        self, update: bytes, frame: bytes, origin: str, msg_id: str, sender_channel: str | None
    ) -> Callable[[], None]:
        """A stored update queued for this process's other clients and for the other processes; returns the
        room's flush, which the writer runs once the whole batch is queued (one merged frame per client)."""
        if self.closed_reason is None:
            self.deliver_update(update, frame, origin)
        # Stored, so the other processes' replicas need it even from a room that was reset meanwhile.
        self.publish({"type": "ydoc.update", "payload": update, "origin": origin, "msg_id": msg_id}, sender_channel)
        return self.flush_deliveries

    def reset(self, error: BaseException) -> None:
        """An update this replica holds could not be stored: roll back by dropping the replica. Its clients are
        closed (CLOSE_RESYNC: they reconnect to a room loaded from the store and hand back what they hold;
        CLOSE_GONE when the file was deleted); the other rooms of the process are not touched."""
        if self.closed_reason is not None:
            return
        gone = isinstance(error, FileGone)
        self.closed_reason = "the file was deleted" if gone else "an update could not be stored; reconnect to resync"
        if gone:
            logger.info("room %s closed: its file was deleted", self.file_id)
        else:
            logger.warning("room %s reset: an update could not be stored (%s)", self.file_id, error)
        if _rooms.get(self.file_id) is self:
            del _rooms[self.file_id]
        clients, self.clients = list(self.clients.values()), {}
        code = CLOSE_GONE if gone else CLOSE_RESYNC
        self._ending = asyncio.get_running_loop().create_task(self._end_clients(clients, code))

    async def _end_clients(self, clients: list[RoomClient], code: int) -> None:
        for client in clients:
            try:
                await client.end(code, self.closed_reason or "")
            except Exception:  # noqa: BLE001 - a client already gone
                logger.info("could not close a client of room %s", self.file_id, exc_info=True)
        await self.close()

    # Awareness -------------------------------------------------------------------------------------
    def accept_awareness(self, client: RoomClient, identity: Identity, entries: list[tuple[int, int, str]]) -> None:
        """A client's awareness update, checked (see collab.awareness) and relayed. Raises AwarenessError."""
        accepted = self.awareness.accept_from_client(client.channel_name, identity, entries)
        self.relay_awareness(accepted, client.channel_name)

    def remove_awareness_of(self, client: RoomClient) -> None:
        """A closed connection's cursors leave for everyone."""
        gone = self.awareness.remove_connection(client.channel_name)
        if gone:
            self.relay_awareness(gone, client.channel_name)

    def relay_awareness(self, entries: list[tuple[int, int, str]], origin: str) -> None:
        payload = protocol.encode_awareness(entries)
        self.deliver(protocol.awareness(payload), skip=origin)
        self.publish({"type": "ydoc.awareness", "payload": payload, "origin": origin, "msg_id": self.own_msg_id()})

    def awareness_frame(self) -> bytes | None:
        """Every known state, for a joining client (None when there is none)."""
        entries = self.awareness.entries()
        return protocol.awareness(protocol.encode_awareness(entries)) if entries else None

    # Fan-out ---------------------------------------------------------------------------------------
    def deliver(self, frame: bytes, skip: str | None = None) -> None:
        """Send a frame to every client of this process except `skip`, without making the caller wait (each
        client's outbox writes it at once or queues it behind that client's earlier frames)."""
        for name, client in list(self.clients.items()):
            if name == skip:
                continue
            try:
                client.push(frame)
            except Exception:  # noqa: BLE001 - one broken socket must not stop the others
                logger.warning("could not send to %s in room %s", name, self.file_id, exc_info=True)

    def deliver_update(self, update: bytes, frame: bytes, origin: str | None) -> None:
        """Queue a stored update for this process's clients, without making the caller wait.

        Updates queued together go out as one merged frame per client when `flush_deliveries` runs: at the
        latest in the next event-loop step, or at once when the queuing code calls it (the update writer
        does after each group-commit batch). Under load the number of socket writes stays near one per
        client per batch. A merged frame also reaches the clients whose edits it contains, which Yjs ignores
        as known.
        """
        self._deliveries.append((update, frame, origin))
        if len(self._deliveries) == 1:
            asyncio.get_running_loop().call_soon(self.flush_deliveries)

    def flush_deliveries(self) -> None:
        batch, self._deliveries = self._deliveries, []
        if len(batch) == 1:
            _, frame, skip = batch[0]
            self.deliver(frame, skip)
        elif batch:
            self.deliver(protocol.sync_update(merge_updates(*(update for update, _, _ in batch))))

    def publish(self, message: dict, sender_channel: str | None = None) -> None:
        """Queue a group message for the other processes; sent in order, without making the caller wait.
        `sender_channel`: the group member the message comes from (e.g. a Spark stream, which skips its own)."""
        if self.alone_in_group(besides=sender_channel):
            return
        self._outbox.append(message)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_outbox())

    def alone_in_group(self, besides: str | None = None) -> bool:
        """True when a group message could only come back to this room (or to `besides`): no other member in this
        process (e.g. a Spark stream), and none in another process (the in-memory layer has none; on Redis, the
        last send's reply)."""
        layer = self.layer
        if self.channel is None:
            return False
        group = room_group(self.file_id)
        expected = {self.channel, besides}
        if isinstance(layer, InMemoryChannelLayer):
            return set(layer.groups.get(group, ())) <= expected
        local_members = getattr(layer, "local_members", None)
        return not self._other_processes and local_members is not None and local_members(group) <= expected

    async def _send_outbox(self) -> None:
        # While one group send is in flight the next messages queue up and go out merged: under load the
        # number of channel-layer messages per room stays near one per round trip, not one per keystroke.
        layer = self.layer
        group = room_group(self.file_id)
        while self._outbox:
            batch, self._outbox = self._outbox, []
            for message in self._coalesce(batch):
                hellos = self._hellos
                try:
                    async with _group_send_slots():
                        subscribers = await layer.group_send(group, message)
                except Exception:  # noqa: BLE001 - other processes resync on their clients' next sync step
                    logger.exception("could not fan out to other processes of room %s", self.file_id)
                    continue
                # Only this process was subscribed. A hello handled since the send was made may come from a
                # process that subscribed after Redis counted: then the count is stale and publishing goes on.
                if isinstance(subscribers, int) and subscribers <= 1 and hellos == self._hellos:
                    self._other_processes = False

    def announce(self, with_state: bool = False) -> None:
        """Tell the group this room is (again) a member: the others answer with their state and publish to it.
        `with_state`: also send this room's state, e.g. after the subscription was lost and renewed."""
        self._publish_again()
        if with_state:
            self.publish(self._state_message())
        self.publish(hello_message(self.channel or "", self.own_msg_id()))

    def _answer_hello(self) -> None:
        self._publish_again()
        self.publish(self._state_message())
        if self.awareness.states:
            payload = protocol.encode_awareness(self.awareness.entries())
            self.publish(
                {"type": "ydoc.awareness", "payload": payload, "origin": self.channel, "msg_id": self.own_msg_id()}
            )

    def _publish_again(self) -> None:
        """Another member may be there now: publish from here on, and distrust counts from earlier sends."""
        self._hellos += 1
        self._other_processes = True

    def _state_message(self) -> dict:
        return {"type": STATE, "payload": self.doc.get_update(), "origin": self.channel, "msg_id": self.own_msg_id()}

    def _coalesce(self, batch: list[dict]) -> list[dict]:
        """Merge runs of consecutive updates into one update message (awareness messages stay as they are)."""
        out: list[dict] = []
        run: list[dict] = []
        for message in [*batch, None]:
            if message is not None and message["type"] == "ydoc.update":
                run.append(message)
                continue
            if len(run) == 1:
                out.append(run[0])
            elif run:
                msg_id = self.own_msg_id()
                payload = merge_updates(*(m["payload"] for m in run))
                out.append({"type": "ydoc.update", "payload": payload, "origin": MERGED_ORIGIN, "msg_id": msg_id})
            run = []
            if message is not None:
                out.append(message)
        return out

    # Channel layer ---------------------------------------------------------------------------------
    async def open(self) -> None:
        """Subscribe to the room's group, then load the stored state: nothing falls between the two."""
        layer = self.layer
        # Default prefix: channels_redis reads all of a process's channels through one list per prefix,
        # and a second prefix would starve the other consumers of the process (only one list is read at a time).
        self.channel = await layer.new_channel()
        await layer.group_add(room_group(self.file_id), self.channel)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.announce()
        parts, _ = await database_sync_to_async(store.load_updates)(self.file_id)
        for part in parts:
            if part:
                self.doc.apply_update(part)
        self.size_estimate = sum(len(part) for part in parts)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            # Let the layer's own cancelled helper tasks (channels_redis' lock acquisition) finish too.
            for _ in range(3):
                await asyncio.sleep(0)
        sender = self._sender
        if sender is not None and not sender.done():
            with contextlib.suppress(Exception):
                await sender
        if self.channel is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(room_group(self.file_id), self.channel)

    async def _read(self) -> None:
        layer = self.layer
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - e.g. a Redis read timeout: keep the room subscribed
                logger.warning("room %s: channel layer receive failed, retrying", self.file_id, exc_info=True)
                await asyncio.sleep(0.05)
                continue
            try:
                await self.on_group_message(message)
            except Exception:  # noqa: BLE001 - one bad message must not stop the room
                logger.exception("room %s could not handle %s", self.file_id, message.get("type"))

    async def on_group_message(self, message: dict) -> None:
        """A message from the group (another process, or a server-side writer through `publish`)."""
        msg_id = message.get("msg_id")
        if msg_id is not None and not self.mark_seen(msg_id):
            return
        kind = message.get("type")
        origin = message.get("origin")
        if kind == "ydoc.update":
            self.doc.apply_update(message["payload"])
            self.deliver_update(message["payload"], protocol.sync_update(message["payload"]), origin)
        elif kind == "ydoc.awareness":
            self.awareness.merge_trusted(protocol.decode_awareness(message["payload"]))
            self.deliver(protocol.awareness(message["payload"]), skip=origin)
        elif kind == DELETED:
            self.reset(FileGone(f"file {self.file_id} was deleted"))
        elif kind == STATE:
            new_part = self.apply_new_part(message["payload"])
            if new_part is not None:
                self.deliver_update(new_part, protocol.sync_update(new_part), None)
        elif kind == HELLO:
            self._answer_hello()
        elif kind == RESUBSCRIBED:
            self.announce(with_state=True)


_rooms: dict[int, Room] = {}
_locks: dict[int, asyncio.Lock] = {}


async def acquire(file_id: int, client: RoomClient) -> Room:
    """Get the room for a file, loading it the first time, and add a local client to it."""
    remember_server_loop()  # sync code (views, signals) reaches this loop's layer connections through it
    lock = _locks.setdefault(file_id, asyncio.Lock())
    async with lock:
        room = _rooms.get(file_id)
        if room is None:
            room = Room(file_id, new_doc())
            try:
                await room.open()
            except BaseException:
                await room.close()
                raise
            _rooms[file_id] = room
            _ensure_access_checks()
        room.clients[client.channel_name] = client
        return room


def release(room: Room, client: RoomClient) -> bool:
    """Drop a local client; when it was the last one, forget the room and stop its reader. True then.

    Synchronous on purpose: the reader is cancelled even if the caller is cancelled right after (a
    receive left pending on a finished event loop would wedge the channel layer's receive lock).
    The caller then awaits `room.close()` to leave the group.
    """
    room.clients.pop(client.channel_name, None)
    if room.clients or _rooms.get(room.file_id) is not room:
        return False
    del _rooms[room.file_id]
    _locks.pop(room.file_id, None)
    if room._reader is not None:
        room._reader.cancel()
    return True


def get_loaded(file_id: int) -> Room | None:
    return _rooms.get(file_id)


# Access ----------------------------------------------------------------------------------------------
# A membership changed somewhere (any process, any edge): every process re-checks its rooms' clients at once.
ACCESS_GROUP = "collab.access"
ACCESS_CHANGED = "collab.access_changed"
_access_checks: asyncio.Task | None = None


def access_changed_message(workspace_id: int) -> dict:
    return {"type": ACCESS_CHANGED, "workspace_id": workspace_id}


def _ensure_access_checks() -> None:
    global _access_checks
    loop = asyncio.get_running_loop()
    if _access_checks is None or _access_checks.done() or _access_checks.get_loop() is not loop:
        _access_checks = loop.create_task(_check_access_while_rooms_are_open())


async def _check_access_while_rooms_are_open() -> None:
    """Removed members are closed and demoted editors stop writing as soon as any process announces a membership
    change (ACCESS_GROUP), and at the latest every COLLAB_ACCESS_RECHECK_SECONDS (the safety net, e.g. for a
    message lost while Redis reconnected). One database call per process for all its rooms and clients. Ends
    when no room is left."""
    layer = rooms_layer()
    changed = asyncio.Event()
    channel = await layer.new_channel()
    await layer.group_add(ACCESS_GROUP, channel)

    async def listen() -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - e.g. a Redis read timeout: keep listening
                await asyncio.sleep(0.05)
                continue
            if message.get("type") in (ACCESS_CHANGED, RESUBSCRIBED):
                changed.set()

    # A receive is never cancelled by a timeout (that would close the channel): it runs in a task of its own.
    listener = asyncio.get_running_loop().create_task(listen())
    try:
        while _rooms:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), settings.COLLAB_ACCESS_RECHECK_SECONDS)
            changed.clear()
            await check_access_of_loaded_rooms()
    finally:
        listener.cancel()
        with contextlib.suppress(Exception):
            await layer.group_discard(ACCESS_GROUP, channel)


async def check_access_of_loaded_rooms() -> None:
    clients_of = {room: list(room.clients.values()) for room in list(_rooms.values())}
    user_ids = {
        room.file_id: {client.user_id for client in clients if client.user_id is not None}
        for room, clients in clients_of.items()
    }
    try:
        roles = await database_sync_to_async(current_roles_by_file)(user_ids)
    except Exception:  # noqa: BLE001 - e.g. the database is restarting: check again next interval
        logger.warning("room access check failed", exc_info=True)
        return
    for room, clients in clients_of.items():
        room_roles = roles.get(room.file_id, {})
        for client in clients:
            if client.channel_name in room.clients:
                await client.apply_role(room_roles.get(client.user_id))
