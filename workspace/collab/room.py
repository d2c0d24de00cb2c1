"""One open document in this process: its replica, the one recipe for accepting updates, its local clients.

Every update, whoever makes it, goes one way: applied to the replica, stored (`collab.writer`), then fanned out
to this process's other clients and, through `RoomPeers`, to the other processes. Browsers' updates come in
through `accept`; server-side local clients (a Spark stream) edit the replica through `edit`, which stores and
fans out the same way. If a store fails, the replica holds an update the store does not have: the room is reset
(`reset`) — dropped, its clients closed so that they reconnect to a room loaded from the store and hand back
what they hold. No other room is touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from pycrdt import Doc, TransactionEvent, merge_updates

from workspace.bus import Bus
from workspace.collab import protocol, store
from workspace.collab.access import CLOSE_GONE, CLOSE_RESYNC
from workspace.collab.attribution import SERVER, Author
from workspace.collab.awareness import Identity, RoomAwareness
from workspace.collab.peers import RoomPeers
from workspace.collab.writer import FileGone, writer
from workspace.collab.ydoc import is_empty_update

logger = logging.getLogger(__name__)


class RoomClosed(Exception):
    """The room was reset (a failed store, a deleted file) or closed: its clients reconnect to a new one."""


class DocumentTooLarge(ValueError):
    """An update that would take the document over COLLAB_MAX_DOC_BYTES."""


class MalformedUpdate(ValueError):
    """An update Yrs failed on while integrating it (the room was then reset). One it cannot decode raises
    ValueError before touching the replica."""


# Raised by pycrdt/Yrs on some damaged updates instead of ValueError: a Rust panic (pyo3's PanicException, a
# BaseException) or RuntimeError. Either may have left the document half-changed.
_INTEGRATION_FAILURES = (RuntimeError,)


def _is_rust_panic(error: BaseException) -> bool:
    return type(error).__name__ == "PanicException"


class RoomClient(Protocol):
    """A local client of a room: a browser's connection, or a server-side peer such as a Spark stream."""

    channel_name: str
    user_id: int | None

    def push(self, frame: bytes) -> None:
        """Send a frame without making the room wait (queued, with back-pressure, by the client's outbox)."""

    async def end(self, code: int, reason: str) -> None:
        """The room was reset or its file deleted: close (a connection) or stop (a server-side peer)."""

    async def apply_role(self, role: str | None) -> None:
        """The client's user's current role, from the access checks (None: no longer a member)."""


class Room:
    def __init__(
        self, file_id: int, doc: Doc, *, bus: Bus | None = None, on_reset: Callable[[Room], None] | None = None
    ) -> None:
        self.file_id = file_id
        self.on_reset = on_reset
        self.doc = doc
        self.clients: dict[str, RoomClient] = {}
        self.awareness = RoomAwareness()
        self.peers = RoomPeers(self, bus)
        # Why the room stopped taking updates (reset after a failed store, file deleted); None while it serves.
        self.closed_reason: str | None = None
        # Upper bound of the document's encoded size: exact when measured, plus every update accepted since.
        self.size_estimate = 0
        self._size_measured = False
        self._last_change: bytes | None = None
        self._collected: list[bytes] | None = None
        # Sync step 2 for a client that has nothing yet (the whole document), built once per state of the document.
        self._full_state_frame: bytes | None = None
        self._deliveries: list[tuple[bytes, bytes, str | None]] = []
        self._ending: asyncio.Task | None = None
        doc.observe(self._on_transaction)

    def _on_transaction(self, event: TransactionEvent) -> None:
        self._last_change = event.update
        self._full_state_frame = None
        if self._collected is not None and not is_empty_update(event.update):
            self._collected.append(event.update)

    # Loading ---------------------------------------------------------------------------------------
    async def open(self) -> None:
        """Join the other processes' rooms, then load the stored state: nothing falls between the two."""
        await self.peers.join()
        parts, _ = await database_sync_to_async(store.load_updates)(self.file_id)
        for part in parts:
            if part:
                self.doc.apply_update(part)
        self.size_estimate = sum(len(part) for part in parts)

    async def close(self) -> None:
        await self.peers.leave()

    @property
    def local_clients(self) -> int:
        return len(self.clients)

    def sync_step2(self, state_vector: bytes) -> bytes:
        """The answer to a client's sync step 1: what the client lacks. A client that has nothing (a browser
        opening the file) gets the one frame kept for the document's current state, not a new encoding."""
        if state_vector not in (b"", b"\x00"):
            return protocol.sync_step2(self.doc.get_update(state_vector))
        if self._full_state_frame is None:
            self._full_state_frame = protocol.sync_step2(self.doc.get_update())
        return self._full_state_frame

    def apply_new_part(self, update: bytes) -> bytes | None:
        """Apply an update (e.g. another room's whole state); the part of it that was new here, or None."""
        self._last_change = None
        self.doc.apply_update(update)
        change, self._last_change = self._last_change, None
        return None if change is None or is_empty_update(change) else change

    # The one recipe --------------------------------------------------------------------------------
    async def accept(self, update: bytes, origin: str, *, frame: bytes | None = None, author: Author = SERVER) -> bool:
        """A client's update: apply it to the replica, store it, then fan it out.

        Returns False for an empty update (nothing stored). Raises ValueError when it is
        malformed, DocumentTooLarge over COLLAB_MAX_DOC_BYTES, RoomClosed once the room was reset, and
        writer.StoreFailed (FileGone) when it could not be stored: the room is then reset, so no replica keeps
        an update the store does not have. `origin` is the channel of the client it came from (it gets no copy);
        `frame`: the client's frame, forwarded as received. `author`: whom it was written for (stored with it;
        a browser's is its authenticated user, see collab.attribution).
        """
        if self.closed_reason is not None:
            raise RoomClosed(self.closed_reason)
        if is_empty_update(update):
            return False
        self._check_size(len(update))
        # Stored and sent as received, every one: replaying the same updates in the same order rebuilds exactly this
        # replica. (Yrs may change a replica without a visible change event — an update it keeps aside because it
        # builds on something missing, or one damaged so that it integrates in part — so "changed nothing" cannot
        # be told apart safely from "changed something the store would then lack".)
        try:
            self.apply_new_part(update)
        except BaseException as exc:
            if not (_is_rust_panic(exc) or isinstance(exc, _INTEGRATION_FAILURES)):
                raise
            self.reset(exc)  # the replica may be half-changed: reload it from the store
            raise MalformedUpdate(f"the update could not be integrated: {exc}") from None
        await self._store_and_fan_out(update, frame or protocol.sync_update(update), origin, author)
        return True

    def edit(
        self, origin: str, change: Callable[[], None], *, growth: int = 0, author: Author = SERVER
    ) -> asyncio.Future | None:
        """A server-side local client's edit (a Spark stream, its Reject): `change` edits `self.doc` in one or
        more transactions, at once; the edit is then stored and fanned out like an accepted update. Returns a
        future resolved once it is stored (None when nothing changed). `growth`: how many bytes the edit may add,
        checked against COLLAB_MAX_DOC_BYTES before anything changes; `author` as for `accept`."""
        if self.closed_reason is not None:
            raise RoomClosed(self.closed_reason)
        self._check_size(growth)
        self._collected = []
        try:
            change()
        finally:
            collected, self._collected = self._collected, None
        if not collected:
            return None
        update = collected[0] if len(collected) == 1 else merge_updates(*collected)
        return self._store_and_fan_out(update, protocol.sync_update(update), origin, author)

    def _store_and_fan_out(self, update: bytes, frame: bytes, origin: str, author: Author) -> asyncio.Future:
        self.size_estimate += len(update)
        self._size_measured = False
        msg_id = self.peers.own_msg_id()
        fan_out = partial(self._fan_out_stored, update, frame, origin, msg_id)
        return writer.submit(self.file_id, update, then=fan_out, on_failure=self.reset, author=author)

    def _check_size(self, incoming: int) -> None:
        """Raises DocumentTooLarge."""
        limit = settings.COLLAB_MAX_DOC_BYTES
        if self.size_estimate + incoming <= limit:
            return
        if not self._size_measured:  # the estimate adds up updates that merged smaller: measure once
            self.size_estimate = len(self.doc.get_update())
            self._size_measured = True
            if self.size_estimate + incoming <= limit:
                return
        raise DocumentTooLarge(f"this change would take the document over its limit of {limit} bytes")

    def _fan_out_stored(self, update: bytes, frame: bytes, origin: str, msg_id: str) -> Callable[[], None]:
        """A stored update queued for this process's other clients and for the other processes; returns the
        room's flush, which the writer runs once the whole batch is queued (one merged frame per client)."""
        if self.closed_reason is None:
            self.deliver_update(update, frame, origin)
        # Stored, so the other processes' replicas need it even from a room that was reset meanwhile.
        self.peers.publish_update(update, origin, msg_id)
        return self.flush_deliveries

    # From other processes ---------------------------------------------------------------------------
    def apply_remote(self, update: bytes, origin: str | None) -> None:
        """An update (or another room's whole state) stored elsewhere: applied, and the new part handed on."""
        if self.closed_reason is not None:
            return
        change = self.apply_new_part(update)
        if change is not None:
            self.deliver_update(change, protocol.sync_update(change), origin)

    def merge_remote_awareness(self, payload: bytes, origin: str | None) -> None:
        self.awareness.merge_trusted(protocol.decode_awareness(payload))
        self.deliver(protocol.awareness(payload), skip=origin)

    def file_deleted(self) -> None:
        self.reset(FileGone(f"file {self.file_id} was deleted"))

    # Reset -----------------------------------------------------------------------------------------
    def reset(self, error: BaseException) -> None:
        """An update this replica holds could not be stored: roll back by dropping the replica. Its clients are
        ended (CLOSE_RESYNC: they reconnect to a room loaded from the store and hand back what they hold;
        CLOSE_GONE when the file was deleted); the other rooms of the process are not touched."""
        if self.closed_reason is not None:
            return
        gone = isinstance(error, FileGone)
        self.closed_reason = "the file was deleted" if gone else "an update could not be stored; reconnect to resync"
        if gone:
            logger.info("room %s closed: its file was deleted", self.file_id)
        else:
            logger.warning("room %s reset: an update could not be stored (%s)", self.file_id, error)
        if self.on_reset is not None:
            self.on_reset(self)
        clients, self.clients = list(self.clients.values()), {}
        code = CLOSE_GONE if gone else CLOSE_RESYNC
        self._ending = asyncio.get_running_loop().create_task(self._end_clients(clients, code))

    async def _end_clients(self, clients: list[RoomClient], code: int) -> None:
        for client in clients:
            try:
                await client.end(code, self.closed_reason or "")
            except Exception:  # noqa: BLE001 - a client already gone
                logger.info("could not end a client of room %s", self.file_id, exc_info=True)
        await self.close()

    # Awareness -------------------------------------------------------------------------------------
    def accept_awareness(self, client: RoomClient, identity: Identity, entries: list[tuple[int, int, str]]) -> None:
        """A client's awareness update, checked (see collab.awareness) and relayed. Raises AwarenessError."""
        accepted = self.awareness.accept_from_client(client.channel_name, identity, entries)
        self.relay_awareness(accepted, client.channel_name)

    def set_peer_awareness(self, client_id: int, clock: int, state: str, origin: str) -> None:
        """A server-side peer's own state (the Spark AI's cursor), or "null" to remove it."""
        entries = [(client_id, clock, state)]
        self.awareness.merge_trusted(entries)
        self.relay_awareness(entries, origin)

    def remove_awareness_of(self, client: RoomClient) -> None:
        """A closed connection's cursors leave for everyone."""
        gone = self.awareness.remove_connection(client.channel_name)
        if gone:
            self.relay_awareness(gone, client.channel_name)

    def relay_awareness(self, entries: list[tuple[int, int, str]], origin: str) -> None:
        payload = protocol.encode_awareness(entries)
        self.deliver(protocol.awareness(payload), skip=origin)
        self.peers.publish_awareness(payload, origin)

    def awareness_frame(self) -> bytes | None:
        """Every known state, for a joining client (None when there is none)."""
        return protocol.awareness(self.awareness.encoded()) if self.awareness.states else None

    # Local fan-out ---------------------------------------------------------------------------------
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
