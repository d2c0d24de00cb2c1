"""The awareness states of one room (cursors, selections, names): who may set what, and what is kept.

y-protocols trusts every peer with every state. A server relaying untrusted connections cannot: a viewer could
fake thousands of presences, remove someone else's cursor, pose as another user, or send a state that throws in
every browser that joins later. Here:

- a connection may set and remove only the awareness client ids it introduced, at most
  COLLAB_MAX_AWARENESS_IDS of them; an id already held by another connection (or by another process's
  connection) is not its to take;
- a state is a JSON object of at most COLLAB_MAX_AWARENESS_BYTES, and its clock must move forward;
- the `user` shown (name, colour, id) is the server's knowledge of the connection, whatever the client sent;
- when a connection closes, the states it introduced are removed for everyone.

States from other processes and from server-side peers (the Spark AI) were checked where they came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

from workspace.collab import protocol

# Owner of states that came through the channel layer (another process, a server-side peer).
REMOTE = ""
GONE = "null"


@dataclass(frozen=True)
class Identity:
    """What the server knows of a connection, shown as its awareness `user`."""

    user_id: int | None
    name: str
    color: str

    def as_user(self) -> dict:
        return {"name": self.name, "color": self.color, "id": self.user_id}


class AwarenessError(ValueError):
    """An awareness update a connection may not make (reported to the sender, nothing of it relayed)."""


class RoomAwareness:
    def __init__(self) -> None:
        # client id -> (clock, JSON state)
        self.states: dict[int, tuple[int, str]] = {}
        # client id -> the connection (channel name) that introduced it; REMOTE for other processes' states
        self.owners: dict[int, str] = {}

    def entries(self) -> list[tuple[int, int, str]]:
        return [(cid, clock, state) for cid, (clock, state) in self.states.items()]

    def encoded(self) -> bytes:
        """Every state, as one awareness update."""
        return protocol.encode_awareness(self.entries())

    def users(self) -> list[dict]:
        users = []
        for _, state in self.states.values():
            try:
                users.append(json.loads(state).get("user") or {})
            except (ValueError, AttributeError):
                continue
        return users

    def ids_of(self, owner: str) -> list[int]:
        return [cid for cid, who in self.owners.items() if who == owner]

    def accept_from_client(
        self, owner: str, identity: Identity, entries: list[tuple[int, int, str]]
    ) -> list[tuple[int, int, str]]:
        """Check and keep a connection's awareness update; returns the entries to relay (states rewritten).

        Entries the connection may not make are left out; if none is left and some were refused, raises
        AwarenessError naming the first reason.
        """
        accepted: list[tuple[int, int, str]] = []
        refusal: str | None = None
        for client_id, clock, state in entries:
            try:
                entry = self._check(owner, identity, client_id, clock, state)
            except AwarenessError as exc:
                refusal = refusal or str(exc)
                continue
            self._keep(owner, *entry)
            accepted.append(entry)
        if not accepted and refusal is not None:
            raise AwarenessError(refusal)
        return accepted

    def _check(self, owner: str, identity: Identity, client_id: int, clock: int, state: str) -> tuple[int, int, str]:
        holder = self.owners.get(client_id)
        if holder is not None and holder != owner:
            raise AwarenessError(f"awareness client id {client_id} belongs to another connection")
        known = self.states.get(client_id)
        if known is not None and clock <= known[0]:
            raise AwarenessError(f"awareness clock {clock} of client id {client_id} does not move forward")
        if state == GONE:
            if holder is None:
                raise AwarenessError(f"awareness client id {client_id} is not this connection's")
            return client_id, clock, GONE
        most = settings.COLLAB_MAX_AWARENESS_IDS
        if holder is None and len(self.ids_of(owner)) >= most:
            raise AwarenessError(f"a connection may introduce at most {most} awareness ids")
        if len(state.encode()) > settings.COLLAB_MAX_AWARENESS_BYTES:
            raise AwarenessError(f"awareness state over {settings.COLLAB_MAX_AWARENESS_BYTES} bytes")
        try:
            parsed = json.loads(state)
        except (ValueError, RecursionError) as exc:
            raise AwarenessError("awareness state is not valid JSON") from exc
        if not isinstance(parsed, dict):
            raise AwarenessError("awareness state must be a JSON object")
        parsed["user"] = identity.as_user()
        return client_id, clock, json.dumps(parsed, separators=(",", ":"))

    def _keep(self, owner: str, client_id: int, clock: int, state: str) -> None:
        if state == GONE:
            self.owners.pop(client_id, None)
            self.states.pop(client_id, None)
            return
        self.states[client_id] = (clock, state)
        self.owners[client_id] = owner

    def merge_trusted(self, entries: list[tuple[int, int, str]]) -> None:
        """States from another process or a server-side peer (checked where they came from)."""
        for client_id, clock, state in entries:
            known = self.states.get(client_id)
            if known is not None and known[0] > clock:
                continue
            if state == GONE:
                self.states.pop(client_id, None)
                self.owners.pop(client_id, None)
            else:
                self.states[client_id] = (clock, state)
                self.owners.setdefault(client_id, REMOTE)

    def remove_connection(self, owner: str) -> list[tuple[int, int, str]]:
        """Forget the states a closed connection introduced; returns the removals to relay."""
        gone = []
        for client_id in self.ids_of(owner):
            clock = self.states.get(client_id, (0, ""))[0] + 1
            gone.append((client_id, clock, GONE))
            self.states.pop(client_id, None)
            self.owners.pop(client_id, None)
        return gone
