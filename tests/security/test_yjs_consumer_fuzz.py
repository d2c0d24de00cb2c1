"""Fuzz of a live YjsConsumer (Channels' WebsocketCommunicator): a hostile editor sends valid, damaged and random
frames; each one is either handled (the connection answers the next probe) or closes it with 4400 / 4413 / 4415,
never an uncaught exception (1011 through Daphne). Afterwards the stored document loads, compacts, and equals what
a well-behaved client in the same room holds."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from tests.security.mutations import header_length, mutate, mutations, reframe_update
from tests.support.yclient import YClient
from workspace.asgi import application
from workspace.collab import protocol, store
from workspace.collab.access import CLOSE_MALFORMED, CLOSE_RESYNC, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED
from workspace.collab.ydoc import doc_text
from workspace.projects.services import create_file

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

CLEAN_CLOSES = {CLOSE_MALFORMED, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED}
MAX_FRAME_BYTES = 4096
# Fixed client ids, so that the same steps give the same documents and frames in every run.
HOSTILE_CLIENT_ID = 4_000_001
GOOD_CLIENT_ID = 4_000_002
PROBE = bytes([protocol.MESSAGE_QUERY_AWARENESS])  # always answered with one awareness frame
_file_numbers = itertools.count()


class DocumentClient(YClient):
    """A well-behaved client that keeps the document. Awareness states relayed from the hostile client are not
    what this test is about, so it does not read them."""

    def __init__(self, file_id: int, user) -> None:
        super().__init__(file_id, user=user)
        self.doc = Doc(client_id=GOOD_CLIENT_ID)
        self.text = self.doc.get("content", type=Text)
        self.doc.observe(self._capture)

    def handle(self, frame: bytes) -> bytes | None:
        if frame[:1] == bytes([protocol.MESSAGE_AWARENESS]):
            return None
        return super().handle(frame)


class HostileClient:
    """Sends frames exactly as given; reads only what tells whether the server handled them."""

    def __init__(self, file_id: int, user) -> None:
        self.comm = WebsocketCommunicator(application, f"/ws/yjs/{file_id}")
        self.comm.scope["user"] = user
        self.ended = False

    async def connect(self, resync_from: Doc | None = None) -> None:
        """Connect; with `resync_from`, answer the server's sync step 1 as a reconnecting y-websocket client does
        (with everything of that document the server lacks)."""
        connected, _ = await self.comm.connect()
        assert connected
        first = await self.output()
        assert first.get("bytes", b"")[:2] == bytes([protocol.MESSAGE_SYNC, protocol.SYNC_STEP1]), first
        if resync_from is not None:
            server_state = protocol.decode(first["bytes"]).payload
            await self.comm.send_to(bytes_data=protocol.sync_step2(resync_from.get_update(server_state)))

    async def output(self, timeout: float = 5.0) -> dict:
        """The next message from the server, {"type": "crashed"} once the application ended with an exception,
        or {"type": "timeout"}. Never cancels the application (unlike `receive_output`)."""
        get = asyncio.ensure_future(self.comm.output_queue.get())
        done, _ = await asyncio.wait({get, self.comm.future}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()
        get.cancel()
        if self.comm.future in done:
            self.ended = True
            error = None if self.comm.future.cancelled() else self.comm.future.exception()
            return {"type": "crashed", "error": repr(error)}
        return {"type": "timeout"}

    async def send_and_observe(self, frame: bytes | str) -> str | int:
        """ "handled" when the server answered the probe sent after `frame`, else the close code, "crashed: ..." or
        "no answer"."""
        # As Daphne hands frames over (`send_to` refuses an empty one).
        await self.comm.send_input({"type": "websocket.receive", "text" if isinstance(frame, str) else "bytes": frame})
        await self.comm.send_to(bytes_data=PROBE)
        awaited = 1 + (isinstance(frame, bytes) and answers_with_awareness(frame))
        while awaited:
            output = await self.output()
            if output["type"] == "websocket.close":
                return output.get("code")
            if output["type"] == "crashed":
                return f"crashed: {output['error']}"
            if output["type"] == "timeout":
                return "no answer"
            if output.get("bytes", b"")[:1] == bytes([protocol.MESSAGE_AWARENESS]):
                awaited -= 1
        return "handled"

    async def close(self) -> None:
        if not self.ended:
            await self.comm.disconnect()


def answers_with_awareness(frame: bytes) -> bool:
    try:
        return protocol.decode(frame).kind == protocol.MESSAGE_QUERY_AWARENESS
    except protocol.ProtocolError:
        return False


def state_vector(doc: Doc) -> dict[int, int]:
    encoded = doc.get_state()
    count, pos = protocol.read_var_uint(encoded, 0)
    clocks = {}
    for _ in range(count):
        client_id, pos = protocol.read_var_uint(encoded, pos)
        clocks[client_id], pos = protocol.read_var_uint(encoded, pos)
    return clocks


# --- What the hostile client sends -----------------------------------------------------------------------------------

# Pycrdt indexes text by UTF-8 bytes, so the edits stay ASCII to keep every index valid.
edits = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 200), st.text(alphabet="ab \n{", min_size=1, max_size=5)),
    st.tuples(st.just("delete"), st.integers(0, 200), st.integers(1, 3)),
    st.tuples(st.just("awareness"), st.integers(1, 2**32), st.integers(0, 2**32), st.text(max_size=20)),
    st.tuples(st.just("step1")),
)
special_frames = st.sampled_from(["text", "oversized", "empty"])


class Editor:
    """The hostile client's own document (it starts from the good client's text, so its edits refer to another
    client's items too): each edit gives the frame a real client would send for it."""

    def __init__(self, start: bytes) -> None:
        self.doc = Doc(client_id=HOSTILE_CLIENT_ID)
        self.text = self.doc.get("content", type=Text)
        self.doc.apply_update(start)

    def frame_for(self, edit: tuple) -> bytes:
        kind = edit[0]
        if kind == "awareness":
            state = json.dumps({"user": {"name": edit[3]}, "cursor": None})
            return protocol.awareness(protocol.encode_awareness([(edit[1], edit[2], state)]))
        if kind == "step1":
            return protocol.sync_step1(self.doc.get_state())
        before = self.doc.get_state()
        length = len(self.text)
        if kind == "insert":
            self.text.insert(edit[1] % (length + 1), edit[2])
        elif length:
            start = edit[1] % length
            del self.text[start : min(length, start + edit[2])]
        return protocol.sync_update(self.doc.get_update(before))


def special_frame(kind: str) -> bytes | str:
    if kind == "text":
        return "not a binary frame"
    if kind == "oversized":
        return protocol.sync_update(bytes(MAX_FRAME_BYTES))
    return b""


def frame_level(frame: bytes, mutation: tuple) -> bytes:
    """Damage that the decoder must catch before any CRDT code sees the bytes: anything in an awareness frame;
    in sync frames a change of their header (type, sub-type, length) or a cut."""
    if frame[:1] == bytes([protocol.MESSAGE_AWARENESS]) or mutation[0] in ("truncate", "trailing", "random"):
        return mutate(frame, mutation)
    if mutation[0] == "repeat":  # inside, a repeat would shift the payload (payload damage): appended instead
        first = mutation[1] % len(frame)
        return frame + frame[first : first + 1 + mutation[2] % 8]
    return mutate(frame, mutation, 0, header_length(frame))


def anywhere(frame: bytes, mutation: tuple) -> bytes:
    """Any damage, including damage to the Yjs update inside a correctly framed sync message."""
    if mutation[0] == "payload":
        message = protocol.decode(frame)
        if message.kind == protocol.MESSAGE_SYNC and message.sub_kind == protocol.SYNC_UPDATE:
            return reframe_update(frame, mutation[1])
        mutation = mutation[1]
    return mutate(frame, mutation)


frame_damage = st.one_of(st.none(), mutations())
# Weighted towards the damage that reaches the CRDT (the other kinds are covered by the test above).
payload_damage = st.tuples(st.just("payload"), mutations())
any_damage = st.one_of(st.none(), mutations(), payload_damage, payload_damage, payload_damage)


# --- The run -----------------------------------------------------------------------------------------------------


async def run_hostile_session(workspace, user, steps, damage, *, resync_after_damage: bool) -> None:
    """The hostile client takes the steps; after each, the connection must be open or cleanly closed (then it
    reconnects). With `resync_after_damage` it reconnects after every damaged frame and, like a real client, sends
    the server what it lacks; without, it goes on from its own document as if every frame had been taken."""
    node = await database_sync_to_async(create_file)(workspace, f"fuzz/{next(_file_numbers)}.txt")
    good = DocumentClient(node.id, user)
    assert await good.connect()
    await good.sync()
    await good.insert(0, "kept by the good client\n")
    editor = Editor(good.doc.get_update())
    hostile = HostileClient(node.id, user)
    await hostile.connect()
    try:
        for step, mutation in steps:
            if isinstance(step, bytes):
                frame = step
            elif isinstance(step, str):
                frame = special_frame(step)
            else:
                frame = editor.frame_for(step)
                if mutation is not None:
                    frame = damage(frame, mutation)
            outcome = await hostile.send_and_observe(frame)
            assert outcome == "handled" or outcome in CLEAN_CLOSES, f"{frame!r} ended with {outcome}"
            damaged = mutation is not None or not isinstance(step, tuple)
            if outcome != "handled" or (damaged and resync_after_damage):
                await hostile.close()
                hostile = HostileClient(node.id, user)
                await hostile.connect(resync_from=editor.doc if resync_after_damage else None)
        if good.closed_code is not None or not await settled(good):
            # An update Yrs failed on may have left the room's replica half-changed: the room was reset and every
            # client told to resync (CLOSE_RESYNC), as a y-websocket client does by reconnecting.
            assert good.closed_code == CLOSE_RESYNC, good.closed_code
            good = await reconnected(good, node.id, user)
        stored = await database_sync_to_async(store.load_doc)(node.id)
        assert str(doc_text(stored)) == str(good.text)
        assert state_vector(stored) == state_vector(good.doc)
    finally:
        await hostile.close()
        await good.close()
    await database_sync_to_async(store.compact)(node.id)
    assert await database_sync_to_async(store.load_text)(node.id) == str(good.text)
    fresh = DocumentClient(node.id, user)
    assert await fresh.connect()
    await fresh.sync()
    assert str(fresh.text) == str(good.text)
    await fresh.close()


async def settled(client: DocumentClient) -> bool:
    try:
        await client.settle()
    except ConnectionError:
        return False
    return True


async def reconnected(old: DocumentClient, file_id: int, user) -> DocumentClient:
    """The same document on a new connection: sync hands the server what it lacks."""
    client = DocumentClient(file_id, user)
    client.doc, client.text = old.doc, old.text
    client.doc.observe(client._capture)
    assert await client.connect()
    await client.sync()
    await client.settle()
    return client


FUZZ_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=80, **FUZZ_SETTINGS)
@given(steps=st.lists(st.one_of(st.tuples(edits, frame_damage), st.tuples(special_frames, st.none())), max_size=8))
async def test_damaged_and_random_frames_get_an_answer_or_a_clean_close_and_the_document_survives(
    workspace_with_file, user, settings, steps
):
    settings.COLLAB_MAX_FRAME_BYTES = MAX_FRAME_BYTES
    workspace, _ = workspace_with_file
    await run_hostile_session(workspace, user, steps, frame_level, resync_after_damage=True)


@settings(max_examples=60, derandomize=True, phases=[Phase.explicit, Phase.generate], **FUZZ_SETTINGS)
@given(steps=st.lists(st.tuples(edits, any_damage), min_size=2, max_size=12))
async def test_damaged_yjs_updates_get_an_answer_or_a_clean_close_and_the_document_survives(
    workspace_with_file, user, settings, steps
):
    """Derandomized and not shrunk: the same examples in every run, so that it fails (and passes) reliably."""
    settings.COLLAB_MAX_FRAME_BYTES = MAX_FRAME_BYTES
    workspace, _ = workspace_with_file
    await run_hostile_session(workspace, user, steps, anywhere, resync_after_damage=False)


# Minimal cases found by fuzzing, replayed on the document the good client starts (fixed client ids, so the bytes
# are stable). "panic" / "runtime-error": after two ordinary edits, an insert's update with one bit flipped. In the
# first the right origin's client id ends a byte early and Yrs 0.28 unwraps a missing block (PanicException); in the
# second the item's own client id does and Yrs raises RuntimeError ("block parent ... must be deleted or shared ref
# type"). "gap": the first update is refused (an empty frame, closed 4400); the next, sent as if the first had been
# taken, starts at clock 1.
TWO_EDITS = [(("insert", 0, "x"), None), (("insert", 1, "ab\n"), None)]
FOUND_CASES = {
    "panic": [*TWO_EDITS, (protocol.sync_update(bytes.fromhex("01018192f40104448192740100017800")), None)],
    "runtime-error": [*TWO_EDITS, (protocol.sync_update(bytes.fromhex("01010192f40104448192f40100017800")), None)],
    "gap": [(("insert", 9, "a"), ("truncate", 0)), (("insert", 20, "a{"), None)],
}


@pytest.mark.parametrize("steps", FOUND_CASES.values(), ids=FOUND_CASES.keys())
async def test_updates_found_by_the_fuzz_close_the_sender_cleanly_and_the_store_keeps_what_clients_see(
    workspace_with_file, user, steps
):
    workspace, _ = workspace_with_file
    await run_hostile_session(workspace, user, steps, anywhere, resync_after_damage=False)
