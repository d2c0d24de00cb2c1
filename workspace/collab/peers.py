"""A room's link to the rooms of the same document in other processes, over the bus.

Every process holds its own replica of each document that has local clients. Replicas stay equal because every
accepted update is stored and then fanned out: to the clients of the same process, and once per process (not
once per client) on the document's topic `ydoc.<file_id>`. A process's own messages come back to it and are
skipped by their msg_id; applying an update twice would be a no-op for a CRDT anyway.

A room that is the only subscriber of its topic publishes nothing: each publish returns how many processes are
subscribed, and a reply of one (this process) makes the room stop publishing. Whoever joins the topic later
announces itself with a hello; every room answers with its whole state and publishes again from then on.
Nothing is lost in between: an update the room did not publish was committed either before the newcomer loaded
the document from the store (so the load has it), or after the newcomer subscribed; then the count that silenced
the room predates the newcomer, and the room still has the hello to read, so its answer carries the update.
A count taken before a hello the room has since handled is not believed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING

from pycrdt import merge_updates

from workspace.bus import RESUBSCRIBED, Bus, get_bus

if TYPE_CHECKING:
    from workspace.collab.room import Room

logger = logging.getLogger(__name__)

UPDATE = "ydoc.update"
AWARENESS = "ydoc.awareness"
# A new member's announcement, and a room's answer to it (its whole document).
HELLO = "ydoc.hello"
STATE = "ydoc.state"
# Published once a file was deleted: every room of it closes its clients.
DELETED = "ydoc.deleted"
# Origin of merged updates: they come from several clients of one process, none of them in another process.
MERGED_ORIGIN = "ydoc-merged"
SEEN_LIMIT = 4096

_MSG_ID_PREFIX = uuid.uuid4().hex[:12]
_msg_counter = itertools.count()


def new_msg_id() -> str:
    """Unique across processes (random per process, then a counter): uuid4 per keystroke costs a getrandom call."""
    return f"{_MSG_ID_PREFIX}{next(_msg_counter):x}"


def room_topic(file_id: int) -> str:
    return f"ydoc.{file_id}"


class RoomPeers:
    """One room's side of the conversation with the same document's rooms elsewhere."""

    def __init__(self, room: Room, bus: Bus | None = None) -> None:
        self.room = room
        self.bus = bus or get_bus()
        self.topic = room_topic(room.file_id)
        self.name = f"room.{new_msg_id()}"  # this room, as the origin of what it publishes
        # False once a publish came back with "no other process": publishing stops until a hello arrives.
        self._other_processes = True
        # Bumped by every hello: a subscriber count from a publish older than the hello proves nothing.
        self._hellos = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._outbox: list[dict] = []
        self._sender: asyncio.Task | None = None
        self.joined = False

    # Membership ------------------------------------------------------------------------------------
    async def join(self) -> None:
        """Subscribe (returns once confirmed: the room then loads the store, and cannot miss an update), then say
        hello, so rooms that went silent while alone answer with their state and publish again."""
        await self.bus.subscribe(self.topic, self.on_message)
        self.joined = True
        self.announce()

    async def leave(self) -> None:
        if self.joined:
            self.joined = False
            try:
                await self.bus.unsubscribe(self.topic, self.on_message)
            except Exception:  # noqa: BLE001 - e.g. Redis is restarting: nothing to end there
                logger.info("room %s could not unsubscribe", self.room.file_id, exc_info=True)
        sender = self._sender
        if sender is not None and not sender.done():
            try:
                await sender
            except Exception:  # noqa: BLE001 - logged where it failed
                pass

    def own_msg_id(self) -> str:
        """A fresh id for a message this room sends, already marked seen: its copy coming back is skipped."""
        msg_id = new_msg_id()
        self._mark_seen(msg_id)
        return msg_id

    def _mark_seen(self, msg_id: str) -> bool:
        if msg_id in self._seen:
            return False
        self._seen[msg_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    # Sending ---------------------------------------------------------------------------------------
    def publish_update(self, update: bytes, origin: str, msg_id: str) -> None:
        self.publish({"type": UPDATE, "payload": update, "origin": origin, "msg_id": msg_id})

    def publish_awareness(self, payload: bytes, origin: str) -> None:
        self.publish({"type": AWARENESS, "payload": payload, "origin": origin, "msg_id": self.own_msg_id()})

    def publish(self, message: dict) -> None:
        """Queue a message for the other processes; sent in order, without making the caller wait."""
        if not self._other_processes:
            return
        self._outbox.append(message)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_outbox())

    @property
    def alone(self) -> bool:
        """True while the last publish found no other process on the topic (and no hello came since)."""
        return not self._other_processes

    async def _send_outbox(self) -> None:
        # While one publish is in flight the next messages queue up and go out merged: under load the number of
        # bus messages per room stays near one per round trip, not one per keystroke.
        while self._outbox:
            batch, self._outbox = self._outbox, []
            for message in self._coalesce(batch):
                hellos = self._hellos
                try:
                    subscribers = await self.bus.publish(self.topic, message)
                except Exception:  # noqa: BLE001 - other processes resync on their clients' next sync step
                    logger.exception("could not fan out to other processes of room %s", self.room.file_id)
                    continue
                # Only this process was subscribed. A hello handled since the publish was made may come from a
                # process that subscribed after Redis counted: then the count is stale and publishing goes on.
                if subscribers <= 1 and hellos == self._hellos:
                    self._other_processes = False

    def _coalesce(self, batch: list[dict]) -> list[dict]:
        """Merge runs of consecutive updates into one update message (other messages stay as they are)."""
        out: list[dict] = []
        run: list[dict] = []
        for message in [*batch, None]:
            if message is not None and message["type"] == UPDATE:
                run.append(message)
                continue
            if len(run) == 1:
                out.append(run[0])
            elif run:
                payload = merge_updates(*(m["payload"] for m in run))
                out.append({"type": UPDATE, "payload": payload, "origin": MERGED_ORIGIN, "msg_id": self.own_msg_id()})
            run = []
            if message is not None:
                out.append(message)
        return out

    def announce(self, with_state: bool = False) -> None:
        """Tell the topic this room is (again) there: the others answer with their state and publish to it.
        `with_state`: also send this room's state, e.g. after the subscription was lost and renewed."""
        self._publish_again()
        if with_state:
            self.publish(self._state_message())
        self.publish({"type": HELLO, "origin": self.name, "msg_id": self.own_msg_id()})

    def _answer_hello(self) -> None:
        self._publish_again()
        self.publish(self._state_message())
        if self.room.awareness.states:
            self.publish_awareness(self.room.awareness.encoded(), self.name)

    def _publish_again(self) -> None:
        """Another member may be there now: publish from here on, and distrust counts from earlier publishes."""
        self._hellos += 1
        self._other_processes = True

    def _state_message(self) -> dict:
        return {"type": STATE, "payload": self.room.doc.get_update(), "origin": self.name, "msg_id": self.own_msg_id()}

    # Receiving -------------------------------------------------------------------------------------
    def on_message(self, message: dict) -> None:
        """A message on the topic (another process, a server-side writer, or this room's own coming back)."""
        msg_id = message.get("msg_id")
        if msg_id is not None and not self._mark_seen(msg_id):
            return
        kind = message.get("type")
        room = self.room
        if kind == UPDATE:
            room.apply_remote(message["payload"], message.get("origin"))
        elif kind == STATE:
            room.apply_remote(message["payload"], None)
        elif kind == AWARENESS:
            room.merge_remote_awareness(message["payload"], message.get("origin"))
        elif kind == HELLO:
            self._answer_hello()
        elif kind == DELETED:
            room.file_deleted()
        elif kind == RESUBSCRIBED:
            self.announce(with_state=True)
