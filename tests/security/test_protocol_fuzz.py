"""Fuzz of the y-websocket decoder (`workspace.collab.protocol`): arbitrary bytes are refused with ProtocolError (or,
for awareness states that are not UTF-8, another ValueError), quickly, and every encoded message decodes back to
itself."""

from __future__ import annotations

import gc
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.security.mutations import mutate, mutations
from workspace.collab import protocol

pytestmark = pytest.mark.embedded

# lib0 writes varuints of up to 53 bits (JavaScript's safe integers); the decoder takes up to 70 (ten bytes).
uints = st.integers(0, 2**64 - 1)
client_ids = st.integers(0, 2**53 - 1)
payloads = st.binary(max_size=2048)
awareness_entries = st.lists(
    st.tuples(client_ids, client_ids, st.one_of(st.just("null"), st.text(max_size=200))), max_size=20
)
any_bytes = st.binary(max_size=4096)

# Each call on at most a few KiB takes microseconds; a hang or a quadratic loop would take far longer than this.
# Counted in CPU time with the collector off: a loaded machine descheduling the test, or a full collection of the
# test process's heap, is not the decoder's time (seen: 0.6 s of wall clock on 6 bytes late in a CI run).
FAST_SECONDS = 0.5


def timed(func, *args):
    collecting = gc.isenabled()
    gc.disable()
    start = time.process_time()
    try:
        return func(*args)
    finally:
        elapsed = time.process_time() - start
        if collecting:
            gc.enable()
        assert elapsed < FAST_SECONDS, f"{func.__name__} took {elapsed:.3f}s of CPU on {len(args[0])} bytes"


def refused_or_decoded(func, *args):
    """The result, or None when the input was refused with ProtocolError (the only error allowed here)."""
    try:
        return timed(func, *args)
    except protocol.ProtocolError:
        return None


@settings(max_examples=500, deadline=None)
@given(frame=any_bytes)
def test_decode_of_arbitrary_bytes_returns_a_message_or_raises_protocol_error(frame):
    message = refused_or_decoded(protocol.decode, frame)
    if message is not None:
        assert message.kind in (
            protocol.MESSAGE_SYNC,
            protocol.MESSAGE_AWARENESS,
            protocol.MESSAGE_AUTH,
            protocol.MESSAGE_QUERY_AWARENESS,
        )
        assert len(message.payload) <= len(frame)


@settings(max_examples=500, deadline=None)
@given(payload=any_bytes)
def test_decode_awareness_of_arbitrary_bytes_returns_entries_or_raises_value_error(payload):
    try:
        entries = timed(protocol.decode_awareness, payload)
    except ValueError as exc:  # ProtocolError, or UnicodeDecodeError for a state that is not UTF-8
        assert isinstance(exc, protocol.ProtocolError | UnicodeDecodeError)
        return
    assert len(entries) <= len(payload) // 3  # each entry takes at least three bytes
    assert all(isinstance(state, str) for _, _, state in entries)


@settings(max_examples=500, deadline=None)
@given(data=any_bytes, pos=st.integers(0, 4200))
def test_var_uint_and_var_bytes_readers_stay_inside_the_input(data, pos):
    pos = min(pos, len(data))
    read = refused_or_decoded(protocol.read_var_uint, data, pos)
    if read is not None:
        value, end = read
        assert pos < end <= len(data) and end - pos <= 10 and value < 2**70
    read = refused_or_decoded(protocol.read_var_bytes, data, pos)
    if read is not None:
        payload, end = read
        assert end <= len(data) and data[end - len(payload) : end] == payload


valid_frames = st.one_of(
    st.builds(protocol.sync_step1, payloads),
    st.builds(protocol.sync_step2, payloads),
    st.builds(protocol.sync_update, payloads),
    st.builds(lambda entries: protocol.awareness(protocol.encode_awareness(entries)), awareness_entries),
    st.builds(protocol.permission_denied, st.text(max_size=50)),
)


@settings(max_examples=500, deadline=None)
@given(frame=valid_frames, damage=st.lists(mutations(), min_size=1, max_size=3))
def test_damaged_valid_frames_decode_or_raise_protocol_error_and_awareness_only_value_error(frame, damage):
    for mutation in damage:
        frame = mutate(frame, mutation)
    message = refused_or_decoded(protocol.decode, frame)
    if message is not None and message.kind == protocol.MESSAGE_AWARENESS:
        try:
            timed(protocol.decode_awareness, message.payload)
        except ValueError as exc:
            assert isinstance(exc, protocol.ProtocolError | UnicodeDecodeError)


@given(count=st.integers(2**20, 2**63), tail=st.binary(max_size=64))
def test_awareness_claiming_a_huge_entry_count_is_refused_at_once(count, tail):
    with pytest.raises(ValueError):  # truncated, or a state in the tail that is not UTF-8
        timed(protocol.decode_awareness, protocol.write_var_uint(count) + tail)


@given(value=uints)
def test_var_uint_round_trips(value):
    encoded = protocol.write_var_uint(value)
    assert protocol.read_var_uint(encoded + b"\xff", 0) == (value, len(encoded))


@given(payload=payloads, prefix=st.binary(max_size=8))
def test_var_bytes_round_trip_at_any_offset(payload, prefix):
    encoded = prefix + protocol.write_var_bytes(payload)
    assert protocol.read_var_bytes(encoded, len(prefix)) == (payload, len(encoded))


@given(
    kind=st.sampled_from(
        [
            (protocol.sync_step1, protocol.SYNC_STEP1),
            (protocol.sync_step2, protocol.SYNC_STEP2),
            (protocol.sync_update, protocol.SYNC_UPDATE),
        ]
    ),
    payload=payloads,
)
def test_sync_frames_round_trip_and_every_strict_prefix_is_refused(kind, payload):
    encode, sub_kind = kind
    frame = encode(payload)
    assert protocol.decode(frame) == protocol.Message(protocol.MESSAGE_SYNC, sub_kind, payload)
    for cut in range(len(frame)):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(frame[:cut])


@given(entries=awareness_entries)
def test_awareness_round_trips_through_frame_and_payload(entries):
    frame = protocol.awareness(protocol.encode_awareness(entries))
    message = protocol.decode(frame)
    assert message.kind == protocol.MESSAGE_AWARENESS
    assert protocol.decode_awareness(message.payload) == entries
    for cut in range(len(frame)):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(frame[:cut])


@given(reason=st.text(max_size=200))
def test_permission_denied_and_query_awareness_decode_to_their_kinds(reason):
    denied = protocol.decode(protocol.permission_denied(reason))
    assert denied.kind == protocol.MESSAGE_AUTH
    assert protocol.read_var_uint(denied.payload, 0)[0] == 0
    assert protocol.read_var_bytes(denied.payload, 1)[0].decode() == reason
    assert protocol.decode(bytes([protocol.MESSAGE_QUERY_AWARENESS])) == protocol.Message(
        protocol.MESSAGE_QUERY_AWARENESS
    )
