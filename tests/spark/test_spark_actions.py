"""Offline actions (ruff format / fix), the chat panel and applying its code, through the Spark pipeline."""
# ruff: noqa: F811 - pytest fixtures imported from test_spark_stream are parameters here

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.spark.test_spark_stream import Room, fake_model, record  # noqa: F401 - fixtures
from tests.support.fake_openai import FakeResponse
from tests.support.helpers import make_member
from workspace.collab import store
from workspace.collab.files import create_file_with_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


@pytest.fixture
async def messy_room(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    node = await database_sync_to_async(create_file_with_text)(workspace, "src/messy.py", "import os\nx  =  [1,2]\n")
    async with Room(workspace, node, user, other_user) as shared:
        yield shared


async def test_format_rewrites_the_file_with_ruff_for_everyone_and_reject_restores_it(messy_room):
    request_id = await messy_room.ask(mode="format")
    finished = await messy_room.finished(request_id)
    assert finished["type"] == "spark.done"
    await messy_room.both_show("import os\n\nx = [1, 2]\n")
    row = await record(request_id)
    assert (row.mode, row.model, row.status) == ("format", "ruff format", "done")
    assert row.prompt == "ruff format src/messy.py"
    assert row.replaced_text == "import os\nx  =  [1,2]\n"
    await messy_room.channel.request({"type": "spark.reject", "id": request_id})
    await messy_room.both_show("import os\nx  =  [1,2]\n")


async def test_fix_removes_the_unused_import(messy_room):
    request_id = await messy_room.ask(mode="fix")
    await messy_room.finished(request_id)
    await messy_room.both_show("x  =  [1,2]\n")
    assert await database_sync_to_async(store.load_text)(messy_room.node.id) == "x  =  [1,2]\n"


async def test_format_of_broken_python_fails_with_ruffs_reason_and_changes_nothing(
    workspace_with_file, user, other_user
):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    node = await database_sync_to_async(create_file_with_text)(workspace, "bad.py", "def broken(:\n")
    async with Room(workspace, node, user, other_user) as room:
        request_id = await room.ask(mode="format")
        finished = await room.finished(request_id)
        assert finished["type"] == "spark.failed" and finished["error"].startswith("ruff format failed:")
        await room.both_show("def broken(:\n")


async def test_format_is_refused_for_non_python_files(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    node = await database_sync_to_async(create_file_with_text)(workspace, "notes.md", "# hi\n")
    async with Room(workspace, node, user, other_user) as room:
        reply = await room.channel.request({"type": "spark.request", "file_id": node.id, "mode": "format"})
        assert reply["type"] == "error" and "Python files only" in reply["message"]


async def test_chat_streams_to_the_panel_without_touching_the_file_then_apply_inserts_the_code(
    workspace_with_file,
    user,
    other_user,
    fake_model,
):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    fake_model.script(FakeResponse(content="Use this:\n```python\ny = 2\n```\n"))
    async with Room(workspace, node, user, other_user) as room:
        request_id = await room.ask(mode="chat", instruction="how do I set y?", selection={"start": 0, "end": 5})
        done = await room.event("spark.done", request_id)
        assert done["text"] == "Use this:\n```python\ny = 2\n```\n"
        deltas = [m["text"] for m in room.channel.seen if m["type"] == "spark.chat.delta" and m["id"] == request_id]
        assert "".join(deltas) == done["text"]
        assert "<selection>print</selection>" in fake_model.requests[0]["messages"][1]["content"]
        assert await room.stored_text() == "print('hi')\n"

        apply_id = await room.ask(mode="insert", content="y = 2\n", selection={"start": 0})
        await room.finished(apply_id)
        await room.both_show("y = 2\nprint('hi')\n")
        row = await record(apply_id)
        assert (row.model, row.inserted_text) == ("apply", "y = 2\n")
        assert len(fake_model.requests) == 1, "applying chat code needs no model call"
