"""Completions as you type, on the server: fill-in-the-middle detection, streaming to the asking socket only,
cancellation that the model server sees, at most one request per user, the prefix cache, the record and the
switches."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.support.fake_openai import FakeModelServer, FakeResponse
from tests.support.helpers import make_member
from tests.support.wsjson import joined
from workspace.spark import completions
from workspace.spark.models import Completion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


@pytest.fixture
def model(settings, monkeypatch):
    with FakeModelServer(tokens_per_second=2000, model="fake-spark") as server:
        settings.SPARK_BASE_URL = server.base_url
        settings.SPARK_MODEL = "fake-spark"
        settings.SPARK_API_KEY = ""
        settings.SPARK_FIM = "auto"
        completions._fim.clear()
        monkeypatch.setattr(completions, "_cache", completions.PrefixCache(256))
        yield server


def ask(file_id: int, prefix: str, suffix: str = "\n") -> dict:
    return {
        "type": "spark.complete",
        "file_id": file_id,
        "path": "src/main.py",
        "language": "python",
        "prefix": prefix,
        "suffix": suffix,
    }


async def completion_text(client, key: str, timeout: float = 5.0) -> tuple[str, dict]:
    text = ""
    while True:
        message = await client.wait_for(lambda m: m["type"] == "spark.completion" and m["key"] == key, timeout)
        text += message["text"]
        if message["done"]:
            return text, message


async def test_fill_in_the_middle_is_detected_and_the_text_streams_to_the_asking_socket_only(
    workspace_with_file, user, other_user, model
):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    model.script_completion(FakeResponse(tokens=["a", " +", " b"]))
    alice, bob = await joined(workspace, user), await joined(workspace, other_user)
    reply = await alice.request(ask(node.id, "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"))
    assert reply["type"] == "spark.complete.ok", reply
    text, done = await completion_text(alice, reply["key"])
    assert text == "a + b" and done.get("error") is None
    probe, stream = [r for r in model.requests if r["_path"] == "/v1/completions"]
    assert probe["max_tokens"] == 1 and not probe.get("stream")
    assert (
        stream["stream"] is True
        and stream["prompt"].endswith("    return ")
        and stream["suffix"].startswith("\n\nprint")
    )
    await asyncio.sleep(0.2)
    assert not [m for m in bob.seen if m["type"] == "spark.completion"]
    await completions.flush_records()
    row = await Completion.objects.aget(key=reply["key"])
    assert (row.fim, row.outcome, row.text, row.model, row.user_id) == (True, "ready", "a + b", "fake-spark", user.id)
    assert row.server_ms is not None and row.ttft_ms is not None
    await alice.close()
    await bob.close()


async def test_a_provider_without_fill_in_the_middle_gets_a_chat_prompt_with_prefix_and_suffix(
    workspace_with_file, user, model
):
    workspace, node = workspace_with_file
    model.fim = False
    model.script(FakeResponse(tokens=["x", " * 2"]))
    client = await joined(workspace, user)
    reply = await client.request(ask(node.id, "y = ", "\nprint(y)\n"))
    text, _ = await completion_text(client, reply["key"])
    assert text == "x * 2"
    chat = [r for r in model.requests if r["_path"] == "/v1/chat/completions"][-1]
    assert "y = <CURSOR/>\nprint(y)" in chat["messages"][-1]["content"]
    assert completions._fim[(model.base_url, "fake-spark")] is False
    await client.close()


@pytest.mark.parametrize(("setting", "path"), [("on", "/v1/completions"), ("off", "/v1/chat/completions")])
async def test_the_fim_setting_forces_the_transport_without_a_probe(
    workspace_with_file, user, model, settings, setting, path
):
    workspace, node = workspace_with_file
    settings.SPARK_FIM = setting
    client = await joined(workspace, user)
    reply = await client.request(ask(node.id, "z = "))
    await completion_text(client, reply["key"])
    assert [r["_path"] for r in model.requests] == [path]
    await client.close()


async def test_a_keystroke_cancels_the_request_in_flight_and_the_model_server_sees_its_stream_closed(
    workspace_with_file, user, model
):
    workspace, node = workspace_with_file
    model.ttft = 3.0  # the first request is still waiting for its first token when the user types on
    model.fim, completions._fim[(model.base_url, "fake-spark")] = True, True
    client = await joined(workspace, user)
    first = await client.request(ask(node.id, "value = "))
    for _ in range(100):
        if model.streams:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    reply = await client.request({"type": "spark.complete.cancel"})
    assert reply["cancelled"] is True
    for _ in range(100):
        if model.streams[0].ended is not None:
            break
        await asyncio.sleep(0.01)
    stream = model.streams[0]
    assert stream.closed_by_client and stream.tokens_sent == 0
    assert stream.ended - started < 1.0, "the model server kept the stream open after the cancel"
    await completions.flush_records()
    assert (await Completion.objects.aget(key=first["key"])).outcome == "cancelled"
    await client.close()


async def test_a_burst_of_keystrokes_keeps_at_most_one_request_in_flight_per_user(workspace_with_file, user, model):
    workspace, node = workspace_with_file
    model.ttft, model.tokens_per_second = 0.2, 200
    completions._fim[(model.base_url, "fake-spark")] = True
    client = await joined(workspace, user)
    keys = []
    for i in range(10):  # every keystroke asks (no debounce here: the server alone must hold the line)
        keys.append((await client.request(ask(node.id, "total = " + "x" * i)))["key"])
        await asyncio.sleep(0.05)
    text, _ = await completion_text(client, keys[-1])
    assert text
    assert model.max_concurrent_streams() == 1
    assert sum(1 for s in model.streams if s.closed_by_client) >= 8
    await client.close()


async def test_the_prefix_cache_answers_a_repeat_and_typing_through_a_suggestion(workspace_with_file, user, model):
    workspace, node = workspace_with_file
    model.script_completion(FakeResponse(tokens=["range", "(10)", ":"]))
    client = await joined(workspace, user)
    first = await client.request(ask(node.id, "for i in "))
    assert (await completion_text(client, first["key"]))[0] == "range(10):"
    calls = len(model.requests)
    again = await client.request(ask(node.id, "for i in "))
    text, done = await completion_text(client, again["key"])
    assert (text, done["cached"]) == ("range(10):", True)
    typed = await client.request(ask(node.id, "for i in ran"))
    assert (await completion_text(client, typed["key"]))[0] == "ge(10):"
    assert len(model.requests) == calls
    await client.close()


async def test_the_browser_reports_what_became_of_a_completion_and_outcomes_never_go_back(
    workspace_with_file, user, model
):
    workspace, node = workspace_with_file
    client = await joined(workspace, user)
    reply = await client.request(ask(node.id, "name = "))
    await completion_text(client, reply["key"])
    for outcome, latency in (("shown", 42.5), ("accepted", None), ("dismissed", None)):
        message = {"type": "spark.complete.report", "key": reply["key"], "outcome": outcome, "latency_ms": latency}
        assert (await client.request(message))["type"] == "spark.complete.report.ok"
    row = await Completion.objects.aget(key=reply["key"])
    assert (row.outcome, row.latency_ms) == ("accepted", 42.5)
    refused = await client.request({"type": "spark.complete.report", "key": reply["key"], "outcome": "stolen"})
    assert refused["type"] == "error"
    await client.close()


def test_completions_are_off_without_a_model_and_follow_the_user_then_the_workspace(
    workspace_with_file, user, settings
):
    workspace, _ = workspace_with_file
    client = Client()
    client.force_login(user)
    settings.SPARK_BASE_URL, settings.OLLAMA_FALLBACK_URL = "", "http://127.0.0.1:9/v1"
    state = client.get(f"/api/spark/completions?workspace_id={workspace.id}").json()
    assert (state["enabled"], state["configured"]) == (False, False)
    settings.SPARK_BASE_URL, settings.SPARK_MODEL = "http://127.0.0.1:9/v1", "m"
    assert client.get(f"/api/spark/completions?workspace_id={workspace.id}").json()["enabled"] is True
    put = client.put(
        f"/api/spark/workspaces/{workspace.id}/completions", json.dumps({"default": False}), "application/json"
    )
    assert put.status_code == 200 and put.json()["enabled"] is False
    client.put("/api/spark/completions", json.dumps({"enabled": True}), "application/json")
    state = client.get(f"/api/spark/completions?workspace_id={workspace.id}").json()
    assert (state["enabled"], state["user_choice"], state["workspace_default"]) == (True, True, False)
    client.put("/api/spark/completions", json.dumps({"enabled": None}), "application/json")
    assert client.get(f"/api/spark/completions?workspace_id={workspace.id}").json()["enabled"] is False
