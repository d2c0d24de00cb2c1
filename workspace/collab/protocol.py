"""Encode and decode the y-websocket wire protocol (lib0 varints, y-protocols message types).

Frame layout: varuint message type, then a payload.
- 0 sync: varuint sub-type (0 step 1 / 1 step 2 / 2 update), then varbytes (state vector or update)
- 1 awareness: varbytes of an awareness update
- 2 auth: varuint (0 = permission denied), then varstring reason
- 3 query awareness: no payload
"""

from __future__ import annotations

from dataclasses import dataclass

MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2


class ProtocolError(ValueError):
    """A frame that does not follow the y-websocket protocol."""


@dataclass(frozen=True)
class Message:
    kind: int
    sub_kind: int | None = None
    payload: bytes = b""


def write_var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def read_var_uint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtocolError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("varint too long")


def write_var_bytes(payload: bytes) -> bytes:
    return write_var_uint(len(payload)) + payload


def read_var_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_var_uint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("truncated payload")
    return data[pos:end], end


def decode(frame: bytes) -> Message:
    """Parse one frame; raises ProtocolError for anything malformed or unknown."""
    kind, pos = read_var_uint(frame, 0)
    if kind == MESSAGE_SYNC:
        sub_kind, pos = read_var_uint(frame, pos)
        if sub_kind not in (SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE):
            raise ProtocolError(f"unknown sync message type {sub_kind}")
        payload, pos = read_var_bytes(frame, pos)
        return Message(kind, sub_kind, payload)
    if kind == MESSAGE_AWARENESS:
        payload, pos = read_var_bytes(frame, pos)
        return Message(kind, None, payload)
    if kind == MESSAGE_QUERY_AWARENESS:
        return Message(kind)
    if kind == MESSAGE_AUTH:
        return Message(kind, None, frame[pos:])
    raise ProtocolError(f"unknown message type {kind}")


def sync_step1(state_vector: bytes) -> bytes:
    return bytes([MESSAGE_SYNC, SYNC_STEP1]) + write_var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return bytes([MESSAGE_SYNC, SYNC_STEP2]) + write_var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return bytes([MESSAGE_SYNC, SYNC_UPDATE]) + write_var_bytes(update)


def awareness(payload: bytes) -> bytes:
    return bytes([MESSAGE_AWARENESS]) + write_var_bytes(payload)


def permission_denied(reason: str) -> bytes:
    return bytes([MESSAGE_AUTH, 0]) + write_var_bytes(reason.encode())


def decode_awareness(payload: bytes) -> list[tuple[int, int, str]]:
    """Entries of an awareness update: (client id, clock, JSON state string; 'null' = gone)."""
    count, pos = read_var_uint(payload, 0)
    entries = []
    for _ in range(count):
        client_id, pos = read_var_uint(payload, pos)
        clock, pos = read_var_uint(payload, pos)
        state, pos = read_var_bytes(payload, pos)
        entries.append((client_id, clock, state.decode("utf-8")))
    return entries


def encode_awareness(entries: list[tuple[int, int, str]]) -> bytes:
    out = bytearray(write_var_uint(len(entries)))
    for client_id, clock, state in entries:
        out += write_var_uint(client_id) + write_var_uint(clock) + write_var_bytes(state.encode("utf-8"))
    return bytes(out)
