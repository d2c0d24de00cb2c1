"""Spark control across Daphne processes: Stop and Reject sent to one process reach the session living in another
(through the bus topic of the session, stored on the request).

Database reads go through database_sync_to_async (not the async ORM), which closes the thread's connection: one
left open would keep the test database from being dropped at the end of the run."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from tests.support.fake_openai import FakeModelServer, FakeResponse
from tests.support.helpers import login_session_key
from tests.support.live import daphne_server
from workspace.collab import store
from workspace.spark.models import SparkRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

MODEL = "fake-spark"


class Channel:
    """A workspace channel (/ws/workspace/<id>) of a live Daphne process."""

    def __init__(self, socket) -> None:
        self.socket = socket

    async def send(self, message: dict) -> None:
        await self.socket.send(json.dumps(message))

    async def wait_for(self, predicate, timeout: float = 15.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.socket.recv())
                if predicate(message):
                    return message


def workspace_channel(base_url: str, workspace_id: int, cookie: str):
    url = base_url.replace("http://", "ws://") + f"/ws/workspace/{workspace_id}"
    return connect(url, additional_headers={"Cookie": f"sessionid={cookie}"}, max_size=None)


@pytest.fixture
def slow_model():
    with FakeModelServer(model=MODEL) as fake:
        yield fake


def spark_env(fake: FakeModelServer) -> dict[str, str]:
    return {"SPARK_BASE_URL": fake.base_url, "SPARK_MODEL": MODEL, "SPARK_API_KEY": "", "SPARK_TIMEOUT": "30"}


@asynccontextmanager
async def channels_on_two_processes(fake: FakeModelServer, workspace_id: int, user):
    """The user's workspace channel on each of two Daphne processes that share the database and Redis."""
    cookie = await database_sync_to_async(login_session_key)(user)
    with daphne_server(**spark_env(fake)) as server_a, daphne_server(**spark_env(fake)) as server_b:
        async with (
            workspace_channel(server_a, workspace_id, cookie) as a,
            workspace_channel(server_b, workspace_id, cookie) as b,
        ):
            yield Channel(a), Channel(b)


async def request_edit(channel: Channel, file_id: int) -> int:
    await channel.send(
        {"type": "spark.request", "file_id": file_id, "instruction": "add a line", "selection": {"start": 0}}
    )
    reply = await channel.wait_for(lambda m: m["type"] in ("spark.request.ok", "error"))
    assert reply["type"] == "spark.request.ok", reply
    return reply["id"]


async def test_stop_sent_to_another_process_cancels_the_stream_at_once(workspace_with_file, user, slow_model):
    workspace, node = workspace_with_file
    slow_model.script(FakeResponse(tokens=[f"tok{i} " for i in range(2000)], tokens_per_second=50))
    async with channels_on_two_processes(slow_model, workspace.id, user) as (on_a, on_b):
        request_id = await request_edit(on_a, node.id)
        await on_a.wait_for(lambda m: m["type"] == "spark.progress" and m.get("id") == request_id)
        await on_b.send({"type": "spark.cancel", "id": request_id})
        queued = await on_b.wait_for(lambda m: m["type"] in ("spark.cancel.ok", "error"))
        assert queued["type"] == "spark.cancel.ok", queued
        done = await on_a.wait_for(lambda m: m["type"] in ("spark.done", "spark.failed") and m["id"] == request_id)
        assert done["status"] == "cancelled"
    row = await database_sync_to_async(SparkRequest.objects.get)(id=request_id)
    assert row.status == "cancelled"
    assert row.tokens < 2000  # stopped long before the 40 s the stream would have taken


async def test_reject_sent_to_another_process_removes_exactly_the_ai_text(workspace_with_file, user, slow_model):
    workspace, node = workspace_with_file
    slow_model.script(FakeResponse(tokens=["# from ", "the ", "model\n"], tokens_per_second=200))
    async with channels_on_two_processes(slow_model, workspace.id, user) as (on_a, on_b):
        request_id = await request_edit(on_a, node.id)
        await on_a.wait_for(lambda m: m["type"] == "spark.done" and m["id"] == request_id)
        assert await database_sync_to_async(store.load_text)(node.id) == "# from the model\nprint('hi')\n"
        await on_b.send({"type": "spark.reject", "id": request_id})
        settled = await on_a.wait_for(lambda m: m["type"] == "spark.settled" and m["id"] == request_id)
        assert settled["status"] == "rejected"
    assert await database_sync_to_async(store.load_text)(node.id) == "print('hi')\n"
    assert (await database_sync_to_async(SparkRequest.objects.get)(id=request_id)).status == "rejected"
