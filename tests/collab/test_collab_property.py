"""Property: random concurrent edits from several clients leave every replica and the database identical,
also after a simulated server restart (rooms dropped, optionally compacted, clients reconnect)."""

from __future__ import annotations

import itertools

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from tests.support.yclient import YClient
from workspace.collab import protocol, registry, store
from workspace.collab.files import create_file_with_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

CLIENTS = 3
_file_numbers = itertools.count()

# Pycrdt indexes text by UTF-8 bytes, so the generated text stays ASCII to keep every index valid.
insert_op = st.tuples(st.just("insert"), st.integers(0, 1000), st.text(alphabet="ab \n", min_size=1, max_size=4))
delete_op = st.tuples(st.just("delete"), st.integers(0, 1000), st.integers(1, 3))
sync_op = st.tuples(st.sampled_from(["flush", "pump"]))
step = st.tuples(st.integers(0, CLIENTS - 1), st.one_of(insert_op, delete_op, sync_op))


def apply_local(client: YClient, op: tuple) -> None:
    length = len(client.text)
    if op[0] == "insert":
        client.text.insert(op[1] % (length + 1), op[2])
    elif op[0] == "delete" and length:
        start = op[1] % length
        del client.text[start : min(length, start + op[2])]


async def pump_available(client: YClient) -> None:
    """Handle whatever the server already sent, without waiting."""
    while not client.comm.output_queue.empty():
        await client.receive_one()


def merged(clients: list[YClient]) -> Doc:
    doc = Doc()
    for client in clients:
        doc.apply_update(client.doc.get_update())
    return doc


def state_vector(doc: Doc) -> dict[int, int]:
    encoded = doc.get_state()
    count, pos = protocol.read_var_uint(encoded, 0)
    clocks = {}
    for _ in range(count):
        client_id, pos = protocol.read_var_uint(encoded, pos)
        clocks[client_id], pos = protocol.read_var_uint(encoded, pos)
    return clocks


def holds(client: YClient, text: str, clocks: dict[int, int]) -> bool:
    # Same text alone is not enough: a client may lack both an insert and its later deletion.
    return str(client.text) == text and state_vector(client.doc) == clocks


async def run_steps(clients: list[YClient], steps: list[tuple]) -> None:
    for index, op in steps:
        client = clients[index]
        if op[0] in ("insert", "delete"):
            apply_local(client, op)
        elif op[0] == "flush":
            await client.flush()
        else:
            await pump_available(client)


async def settle(clients: list[YClient], file_id: int) -> str:
    """Flush everything, wait until every replica holds the union of all edits; returns that text."""
    for client in clients:
        await client.flush()
    for client in clients:
        # The server answers a sync step 1 after the frames sent before it, each stored before fan-out:
        # once answered, it has applied and persisted everything this client sent. (Clients alone may
        # already agree, e.g. when all deleted the same character, before the server saw any of it.)
        client.synced = False
        await client.sync(timeout=5)
    union = merged(clients)
    expected, clocks = str(union.get("content", type=Text)), state_vector(union)
    for client in clients:
        await client.pump_until(lambda c=client: holds(c, expected, clocks), timeout=5)
    room = registry.get_loaded(file_id)
    assert room is not None and str(room.doc.get("content", type=Text)) == expected
    return expected


async def connect(file_id: int, user, doc_update: bytes | None = None) -> YClient:
    client = YClient(file_id, user=user)
    if doc_update is not None:
        client.doc.apply_update(doc_update)
    assert await client.connect()
    await client.sync()
    return client


async def simulate_restart(clients: list[YClient], file_id: int, compact: bool) -> None:
    for client in clients:
        await client.close()
    # A new server process starts with no rooms in memory.
    registry.clear()
    if compact:
        await database_sync_to_async(store.compact)(file_id)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(step, min_size=1, max_size=25),
    offline=st.lists(st.tuples(st.just(0), st.one_of(insert_op, delete_op)), max_size=5),
    after=st.lists(step, max_size=15),
    compact=st.booleans(),
)
async def test_random_concurrent_edits_converge_and_survive_restart(
    workspace_with_file, user, before, offline, after, compact
):
    workspace, _ = workspace_with_file
    node = await database_sync_to_async(create_file_with_text)(workspace, f"prop/{next(_file_numbers)}.txt", "seed\n")
    clients = [await connect(node.id, user) for _ in range(CLIENTS)]
    try:
        await run_steps(clients, before)
        text = await settle(clients, node.id)
        assert await database_sync_to_async(store.load_text)(node.id) == text
        kept_replica = clients[0].doc.get_update()
    finally:
        await simulate_restart(clients, node.id, compact)

    # One client edits while the server is down and brings those edits back on reconnect.
    returning = YClient(node.id, user=user)
    returning.doc.apply_update(kept_replica)
    returning._outgoing.clear()
    for _, op in offline:
        apply_local(returning, op)
    assert await returning.connect()
    await returning.sync()
    clients = [returning, *[await connect(node.id, user) for _ in range(CLIENTS - 1)]]
    try:
        await run_steps(clients, after)
        text = await settle(clients, node.id)
        assert await database_sync_to_async(store.load_text)(node.id) == text
    finally:
        await simulate_restart(clients, node.id, compact)
    fresh = await connect(node.id, user)
    assert str(fresh.text) == text
    await fresh.close()
