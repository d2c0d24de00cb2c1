"""Spark streams into a shared document: real fake-model HTTP server, real WebSocket clients."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from pycrdt import Assoc

from tests.support.fake_openai import FakeModelServer, FakeResponse, split_tokens
from tests.support.helpers import make_member
from tests.support.wsjson import WorkspaceClient
from tests.support.yclient import YClient
from workspace.collab import store
from workspace.spark import runner
from workspace.spark.models import SparkRequest
from workspace.spark.positions import relative_position, sticky_at

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

ORIGINAL = "print('hi')\n"


@pytest.fixture
def fake_model(settings):
    with FakeModelServer(tokens_per_second=400, model="fake-spark", api_key="sk-spark") as server:
        settings.SPARK_BASE_URL = server.base_url
        settings.SPARK_API_KEY = "sk-spark"
        settings.SPARK_MODEL = "fake-spark"
        settings.SPARK_MAX_RETRIES = 2
        settings.SPARK_TIMEOUT = 2.0
        yield server


class Room:
    """Alice's workspace channel plus two y-websocket clients (alice, bob) on the same file."""

    def __init__(self, workspace, node, alice, bob) -> None:
        self.workspace, self.node = workspace, node
        self.channel = WorkspaceClient(workspace.id, alice)
        self.a = YClient(node.id, user=alice)
        self.b = YClient(node.id, user=bob)

    async def __aenter__(self) -> Room:
        await self.channel.connect()
        await self.channel.wait_for(lambda m: m["type"] == "hello")
        for client in (self.a, self.b):
            assert await client.connect()
            await client.sync()
        return self

    async def __aexit__(self, *exc) -> None:
        for client in (self.a, self.b):
            await client.close()
        await self.channel.close()

    async def ask(self, **message) -> int:
        reply = await self.channel.request({"type": "spark.request", "file_id": self.node.id, **message})
        assert reply["type"] == "spark.request.ok", reply
        return reply["id"]

    async def event(self, kind: str, request_id: int, timeout: float = 10.0) -> dict:
        return await self.channel.wait_for(lambda m: m["type"] == kind and m.get("id") == request_id, timeout)

    async def finished(self, request_id: int, timeout: float = 10.0) -> dict:
        return await self.channel.wait_for(
            lambda m: m["type"] in ("spark.done", "spark.failed") and m.get("id") == request_id, timeout
        )

    async def both_show(self, expected: str, timeout: float = 5.0) -> None:
        for client in (self.a, self.b):
            await client.pump_until(lambda c=client: str(c.text) == expected, timeout)

    async def stored_text(self) -> str:
        return await database_sync_to_async(store.load_text)(self.node.id)


@pytest.fixture
async def room(workspace_with_file, user, other_user):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    async with Room(workspace, node, user, other_user) as shared:
        yield shared


async def record(request_id: int) -> SparkRequest:
    return await SparkRequest.objects.aget(id=request_id)


async def test_streamed_text_appears_for_both_clients_and_is_recorded(room, fake_model, user):
    fake_model.script(FakeResponse(content="x = 1\ny = 2\n"))
    request_id = await room.ask(mode="insert", instruction="add variables", selection={"start": 0})
    done = await room.finished(request_id)
    assert done["type"] == "spark.done" and done["pending"] is True
    await room.both_show("x = 1\ny = 2\n" + ORIGINAL)
    assert await room.stored_text() == "x = 1\ny = 2\n" + ORIGINAL
    row = await record(request_id)
    assert (row.status, row.mode, row.model, row.user_id) == ("done", "insert", "fake-spark", user.id)
    assert row.tokens == len(split_tokens("x = 1\ny = 2\n")) and row.inserted_text == "x = 1\ny = 2\n"
    assert row.ttft_ms is not None and row.tokens_per_second > 0
    assert row.overhead_ms is not None and row.overhead_max_ms >= row.overhead_ms
    assert "add variables" in row.prompt and "<cursor/>print('hi')" in row.prompt and "python" in row.prompt
    sent = fake_model.requests[0]
    assert sent["model"] == "fake-spark" and sent["stream"] is True


async def test_markdown_fences_are_stripped_from_the_answer(room, fake_model):
    fake_model.script(FakeResponse(content="```python\nz = 3\n```\nThat's it."))
    request_id = await room.ask(mode="insert", instruction="z", selection={"start": len(ORIGINAL)})
    await room.finished(request_id)
    await room.both_show(ORIGINAL + "z = 3\n")


async def test_replace_selection_swaps_exactly_the_selected_text(room, fake_model):
    fake_model.script(FakeResponse(content="'hello'"))
    request_id = await room.ask(mode="replace", instruction="greet", selection={"start": 6, "end": 10})
    await room.finished(request_id)
    await room.both_show("print('hello')\n")
    row = await record(request_id)
    assert (row.replaced_text, row.inserted_text) == ("'hi'", "'hello'")
    assert "<selection>'hi'</selection>" in row.prompt


async def test_selection_given_as_yjs_relative_positions_survives_a_concurrent_edit(room, fake_model):
    fake_model.script(FakeResponse(content="'bye'"))
    anchor = relative_position(sticky_at(room.a.text, 6, Assoc.AFTER))
    head = relative_position(sticky_at(room.a.text, 10, Assoc.AFTER))
    await room.b.insert(0, "# moved\n")  # the offsets 6..10 would now point elsewhere
    await room.a.pump_until(lambda: str(room.a.text).startswith("# moved"), 5)
    request_id = await room.ask(mode="replace", instruction="bye", selection={"anchor": anchor, "head": head})
    await room.finished(request_id)
    await room.both_show("# moved\nprint('bye')\n")


async def test_progress_events_carry_live_figures(room, fake_model, settings):
    settings.SPARK_PROGRESS_INTERVAL_MS = 0
    fake_model.script(FakeResponse(tokens=[f"t{i} " for i in range(40)], tokens_per_second=400))
    request_id = await room.ask(mode="insert", instruction="count", selection={"start": 0})
    progress = await room.event("spark.progress", request_id)
    assert progress["tokens"] >= 1 and progress["ttft_ms"] is not None
    await room.finished(request_id)
    started = [m for m in room.channel.seen if m["type"] == "spark.started" and m["id"] == request_id]
    assert started and started[0]["model"] == "fake-spark"
    await room.channel.wait_for(lambda m: m["type"] == "history.updated" and m.get("status") == "done")
    history = [m for m in room.channel.seen if m["type"] == "history.updated" and m["id"] == request_id]
    assert [m["status"] for m in history] == ["streaming", "done"]


async def test_concurrent_human_edits_during_the_stream_are_kept(room, fake_model):
    tokens = [f"a{i} " for i in range(60)]
    fake_model.script(FakeResponse(tokens=tokens, tokens_per_second=300))
    request_id = await room.ask(mode="insert", instruction="stream", selection={"start": 6})
    await room.b.pump_until(lambda: "a3 " in str(room.b.text), 5)
    await room.b.insert(0, "# top\n")
    await room.b.insert(len(str(room.b.text).encode()), "# bottom\n")
    await room.finished(request_id)
    expected = "# top\nprint(" + "".join(tokens) + "'hi')\n# bottom\n"
    await room.both_show(expected)
    assert await room.stored_text() == expected


async def test_human_typing_right_after_the_ai_text_does_not_split_it(room, fake_model):
    tokens = [f"w{i}" for i in range(40)]
    fake_model.script(FakeResponse(tokens=tokens, tokens_per_second=300))
    request_id = await room.ask(mode="insert", instruction="stream", selection={"start": 0})
    await room.a.pump_until(lambda: str(room.a.text).startswith("w0w1w2"), 5)
    # Alice types at the end of the AI text as she sees it now; the AI keeps writing before her text.
    at = str(room.a.text).index("print")
    await room.a.insert(at, "<A>")
    await room.finished(request_id)
    await room.both_show("".join(tokens) + "<A>" + ORIGINAL)


async def test_cancel_stops_stream_and_keeps_doc_consistent(room, fake_model):
    fake_model.script(FakeResponse(tokens=[f"c{i} " for i in range(2000)], tokens_per_second=200))
    request_id = await room.ask(mode="insert", instruction="long", selection={"start": 0})
    await room.a.pump_until(lambda: "c5 " in str(room.a.text), 5)
    reply = await room.channel.request({"type": "spark.cancel", "id": request_id})
    assert reply["type"] == "spark.cancel.ok"
    done = await room.finished(request_id)
    assert done["status"] == "cancelled" and done["pending"] is True
    await asyncio.sleep(0.3)
    emitted_after_stop = len(fake_model.emitted)
    await asyncio.sleep(0.3)
    assert len(fake_model.emitted) <= emitted_after_stop + 1, "the model stream was not closed"
    row = await record(request_id)
    assert row.status == "cancelled" and 0 < row.tokens < 2000
    await room.a.drain()
    await room.b.drain()
    assert str(room.a.text) == str(room.b.text) == row.inserted_text + ORIGINAL
    assert await room.stored_text() == row.inserted_text + ORIGINAL


async def test_reject_after_interleaved_edits_removes_only_the_ai_text_and_restores_the_selection(room, fake_model):
    fake_model.script(FakeResponse(tokens=[f"r{i} " for i in range(30)], tokens_per_second=300))
    request_id = await room.ask(mode="replace", instruction="rewrite", selection={"start": 6, "end": 10})
    await room.b.pump_until(lambda: "r2 " in str(room.b.text), 5)
    await room.b.insert(0, "# bob\n")
    await room.finished(request_id)
    await room.a.pump_until(lambda: str(room.a.text).startswith("# bob\n") and "r29 " in str(room.a.text), 5)
    # Inside the AI region too: Alice's text survives the reject.
    inside = str(room.a.text).index("r10 ")
    await room.a.insert(inside, "ALICE")
    await room.a.insert(len(str(room.a.text).encode()), "# end\n")
    reply = await room.channel.request({"type": "spark.reject", "id": request_id})
    assert reply["type"] == "spark.reject.ok" and reply["status"] == "rejected"
    # The restored 'hi' goes back where its deleted characters are: after the AI text, so after ALICE.
    expected = "# bob\nprint('hi'ALICE)\n# end\n"
    await room.both_show(expected)
    assert await room.stored_text() == expected
    assert (await record(request_id)).status == "rejected"
    settled = await room.event("spark.settled", request_id)
    assert settled["status"] == "rejected"


async def test_accept_keeps_the_text_and_a_second_settle_is_refused(room, fake_model):
    fake_model.script(FakeResponse(content="kept = True\n"))
    request_id = await room.ask(mode="insert", instruction="k", selection={"start": 0})
    await room.finished(request_id)
    reply = await room.channel.request({"type": "spark.accept", "id": request_id})
    assert reply["status"] == "accepted"
    again = await room.channel.request({"type": "spark.reject", "id": request_id})
    assert again["type"] == "error" and "already accepted" in again["message"]
    await room.both_show("kept = True\n" + ORIGINAL)
    assert (await record(request_id)).status == "accepted"


async def test_reject_while_streaming_stops_and_removes_everything(room, fake_model):
    fake_model.script(FakeResponse(tokens=[f"s{i} " for i in range(2000)], tokens_per_second=200))
    request_id = await room.ask(mode="replace", instruction="x", selection={"start": 0, "end": 5})
    await room.a.pump_until(lambda: "s3 " in str(room.a.text), 5)
    reply = await room.channel.request({"type": "spark.reject", "id": request_id})
    assert reply["status"] == "rejected"
    await room.both_show(ORIGINAL)
    assert await room.stored_text() == ORIGINAL


async def test_ai_peer_shows_a_named_cursor_over_its_region_then_leaves(room, fake_model):
    fake_model.script(FakeResponse(content="v = 1\n"))
    request_id = await room.ask(mode="insert", instruction="v", selection={"start": 0})
    await room.finished(request_id)

    def ai_states():
        return [s for s in room.b.awareness.values() if '"Spark AI"' in s]

    await room.b.pump_until(lambda: bool(ai_states()), 5)
    import json

    state = json.loads(ai_states()[0])
    assert state["user"]["spark_request_id"] == request_id
    assert set(state["selection"]) == {"anchor", "head"}
    assert state["selection"]["anchor"]["assoc"] == 0 and state["selection"]["head"]["assoc"] == -1
    await room.channel.request({"type": "spark.accept", "id": request_id})
    await room.b.pump_until(lambda: not ai_states(), 5)


async def test_viewer_cannot_request_and_unconfigured_provider_says_how_to_configure(
    workspace_with_file, user, other_user, settings
):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "viewer")
    settings.SPARK_BASE_URL = ""
    settings.OLLAMA_FALLBACK_URL = "http://127.0.0.1:9/v1"
    viewer = WorkspaceClient(workspace.id, other_user)
    owner = WorkspaceClient(workspace.id, user)
    for client in (viewer, owner):
        await client.connect()
        await client.wait_for(lambda m: m["type"] == "hello")
    denied = await viewer.request({"type": "spark.request", "file_id": node.id, "instruction": "x"})
    assert denied["type"] == "error" and "editor" in denied["message"]
    unconfigured = await owner.request({"type": "spark.request", "file_id": node.id, "instruction": "x"})
    assert unconfigured["type"] == "error" and "SPARK_BASE_URL" in unconfigured["message"]
    for client in (viewer, owner):
        await client.close()


async def test_reject_reaches_a_session_living_in_another_process_through_its_channel(room, fake_model):
    fake_model.script(FakeResponse(content="far = 1\n"))
    request_id = await room.ask(mode="insert", instruction="f", selection={"start": 0})
    await room.finished(request_id)
    await room.both_show("far = 1\n" + ORIGINAL)
    # Seen from another Daphne process there is no local job: the handler must go through the session's channel.
    runner._jobs.pop(request_id)
    reply = await room.channel.request({"type": "spark.reject", "id": request_id})
    assert reply["type"] == "spark.reject.ok" and reply["queued"] is True
    settled = await room.event("spark.settled", request_id)
    assert settled["status"] == "rejected"
    await room.both_show(ORIGINAL)
    row = await record(request_id)
    assert (row.status, row.session_channel) == ("rejected", "")
