"""Hypothesis strategies that damage y-websocket frames: bit flips, truncations, huge varints, repeats, random bytes.

A mutation is a tuple drawn from `mutations()`; `mutate(frame, mutation, start, end)` applies it to the bytes of
`frame` between `start` and `end` (the whole frame by default), so a caller can aim at a frame's header only.
"""

from __future__ import annotations

from hypothesis import strategies as st

from workspace.collab import protocol

positions = st.integers(0, 2**16)


def mutations() -> st.SearchStrategy[tuple]:
    return st.one_of(
        st.tuples(st.just("flip"), positions, st.integers(0, 7)),
        st.tuples(st.just("truncate"), positions),
        # 0xff continuation bytes then a last byte: up to 13 bytes, past the decoder's ten-byte limit.
        st.tuples(st.just("huge_varint"), positions, st.integers(1, 12), st.integers(0, 0x7F)),
        st.tuples(st.just("repeat"), positions, positions),
        st.tuples(st.just("trailing"), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("random"), st.binary(max_size=64)),
    )


def mutate(frame: bytes, mutation: tuple, start: int = 0, end: int | None = None) -> bytes:
    """`frame` damaged by `mutation` within frame[start:end] (positions are taken modulo that span)."""
    end = len(frame) if end is None else end
    span = max(end - start, 1)
    kind = mutation[0]
    data = bytearray(frame)
    if kind == "flip" and data:
        index = min(start + mutation[1] % span, len(data) - 1)
        data[index] ^= 1 << mutation[2]
    elif kind == "truncate":
        del data[start + mutation[1] % span :]
    elif kind == "huge_varint":
        index = start + mutation[1] % span  # inside the span: aimed at a header, it never lands on the payload
        data[index:index] = b"\xff" * mutation[2] + bytes([mutation[3]])
    elif kind == "repeat":
        first = start + mutation[1] % span
        last = first + mutation[2] % max(end - first, 1) + 1
        data[last:last] = data[first:last]
    elif kind == "trailing":
        data += mutation[1]
    elif kind == "random":
        return bytes(mutation[1])
    return bytes(data)


def header_length(frame: bytes) -> int:
    """Bytes before the payload of a well-formed sync or awareness frame (type, sub-type, length varint)."""
    message = protocol.decode(frame)
    return len(frame) - len(message.payload)


def reframe_update(frame: bytes, mutation: tuple) -> bytes:
    """A sync update frame whose payload (the Yjs update) is damaged but correctly framed, so it reaches the CRDT."""
    message = protocol.decode(frame)
    return protocol.sync_update(mutate(message.payload, mutation))
