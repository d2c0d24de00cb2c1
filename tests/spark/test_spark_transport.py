"""The persistent WebSocket transport (the Responses API's WebSocket mode) behind SPARK_TRANSPORT, its fallback to the
chat-completions stream, and the pooled HTTP client, against the fake server speaking the documented protocol."""
# ruff: noqa: F811 - pytest fixtures imported from test_spark_stream are parameters here

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from tests.spark.test_spark_stream import ORIGINAL, Room, fake_model, record  # noqa: F401 - fixtures
from tests.support.fake_openai import FakeResponse, split_tokens
from tests.support.helpers import make_member
from workspace import llm

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


@pytest.fixture
async def room(workspace_with_file, user, other_user):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    llm._no_sockets.clear()
    async with Room(workspace, node, user, other_user) as shared:
        yield shared


async def test_requests_stream_over_one_persistent_responses_socket(room, fake_model, settings):
    settings.SPARK_TRANSPORT = "responses-ws"
    fake_model.script(FakeResponse(content="a = 1\n"), FakeResponse(content="b = 2\n"))
    first = await room.ask(mode="insert", instruction="a", selection={"start": 0})
    assert (await room.finished(first))["status"] == "done"
    await room.both_show("a = 1\n" + ORIGINAL)
    await room.channel.request({"type": "spark.accept", "id": first})
    second = await room.ask(mode="insert", instruction="b", selection={"start": 0})
    await room.finished(second)
    await room.both_show("b = 2\na = 1\n" + ORIGINAL)
    sent = [r for r in fake_model.requests if r["_path"] == "ws:/v1/responses"]
    assert len(sent) == 2 and fake_model.ws_connections == 1  # the second request reused the connection
    assert sent[0]["type"] == "response.create" and sent[0]["model"] == "fake-spark" and sent[0]["store"] is False
    assert "code-editing assistant" in sent[0]["instructions"]
    assert sent[0]["input"][0]["role"] == "user" and "Instruction: a" in sent[0]["input"][0]["content"][0]["text"]
    row = await record(first)
    assert row.tokens == len(split_tokens("a = 1\n")) and row.ttft_share_ms is not None  # response.completed's usage


async def test_a_provider_without_websocket_mode_gets_the_chat_stream_and_is_not_asked_again(
    room, fake_model, settings
):
    settings.SPARK_TRANSPORT = "responses-ws"
    fake_model.responses_ws = False
    fake_model.script(FakeResponse(content="c = 3\n"), FakeResponse(content="d = 4\n"))
    for instruction in ("c", "d"):
        request_id = await room.ask(mode="insert", instruction=instruction, selection={"start": 0})
        assert (await room.finished(request_id))["status"] == "done"
        await room.channel.request({"type": "spark.accept", "id": request_id})
    assert [r["_path"] for r in fake_model.requests] == ["/v1/chat/completions"] * 2
    assert (fake_model.base_url, "sk-spark") in llm._no_sockets
    await room.both_show("d = 4\nc = 3\n" + ORIGINAL)


async def test_stop_closes_the_socket_of_the_response_it_cut_short(room, fake_model, settings):
    settings.SPARK_TRANSPORT = "responses-ws"
    fake_model.script(FakeResponse(tokens=[f"w{i} " for i in range(2000)], tokens_per_second=200))
    request_id = await room.ask(mode="insert", instruction="long", selection={"start": 0})
    await room.a.pump_until(lambda: "w3 " in str(room.a.text), 5)
    await room.channel.request({"type": "spark.cancel", "id": request_id})
    assert (await room.finished(request_id))["status"] == "cancelled"
    for _ in range(100):
        if fake_model.streams[0].ended is not None:
            break
        await asyncio.sleep(0.01)
    assert fake_model.streams[0].closed_by_client and fake_model.streams[0].tokens_sent < 2000
    fake_model.script(FakeResponse(content="e = 5\n"))
    again = await room.ask(mode="insert", instruction="e", selection={"start": 0})
    assert (await room.finished(again))["status"] == "done"
    assert fake_model.ws_connections == 2  # a cut-short connection is never reused


async def test_chat_completions_share_one_pooled_client_per_provider(room, fake_model):
    fake_model.script(FakeResponse(content="f = 6\n"), FakeResponse(content="g = 7\n"))
    for instruction in ("f", "g"):
        request_id = await room.ask(mode="insert", instruction=instruction, selection={"start": 0})
        await room.finished(request_id)
        await room.channel.request({"type": "spark.accept", "id": request_id})
    config = await llm.aresolve("spark")
    assert config.pooled_async_client() is config.pooled_async_client()
    assert len(llm._pooled[asyncio.get_running_loop()]) == 1
