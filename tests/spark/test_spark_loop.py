"""The Spark loop on the server: pending edits a page can rebuild its bar from, Reject with no live session (after a
restart), Stop of a chat from anywhere, refining a pending edit (its thread), per-hunk review, the hand-over offer."""
# ruff: noqa: F811 - pytest fixtures imported from test_spark_stream are parameters here

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from tests.spark.test_spark_stream import ORIGINAL, Room, fake_model, record  # noqa: F401 - fixtures
from tests.support.fake_openai import FakeResponse
from tests.support.helpers import make_member
from workspace.collab import registry
from workspace.collab.files import create_file_with_text
from workspace.spark import runner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


@pytest.fixture
async def room(workspace_with_file, user, other_user):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    async with Room(workspace, node, user, other_user) as shared:
        yield shared


async def forget_the_session(request_id: int) -> None:
    """What a restart of the web process does to a live session: it is gone, and nobody listens on its topic."""
    job = runner._jobs.pop(request_id)
    if job.ttl_handle is not None:
        job.ttl_handle.cancel()
    await job.session.close()


async def test_reject_works_with_no_live_session_from_what_the_request_recorded(room, fake_model):
    fake_model.script(FakeResponse(tokens=["'h", "é", "llo", " 😀", " wörld'"]))
    request_id = await room.ask(mode="replace", instruction="greet", selection={"start": 6, "end": 10})
    await room.finished(request_id)
    await room.both_show("print('héllo 😀 wörld')\n")
    await room.b.insert(0, "# bob\n")
    await room.a.pump_until(lambda: str(room.a.text).startswith("# bob"), 5)
    at = str(room.a.text).index("wörld")
    await room.a.insert(len(str(room.a.text)[:at].encode()), "ALICE ")
    await room.both_show("# bob\nprint('héllo 😀 ALICE wörld')\n")
    await forget_the_session(request_id)
    registry.clear()  # the rooms of the old process are gone too: the reject loads the document from the store

    reply = await room.channel.request({"type": "spark.reject", "id": request_id})
    assert reply["type"] == "spark.reject.ok" and reply["status"] == "rejected", reply
    # Exactly the AI's characters go (whatever their encoding); Bob's and Alice's edits stay.
    expected = "# bob\nprint('hi'ALICE )\n"
    assert await room.stored_text() == expected
    settled = await room.event("spark.settled", request_id)
    assert settled["status"] == "rejected"
    assert (await record(request_id)).status == "rejected"


async def test_a_page_that_opens_gets_the_pending_edits_with_their_region_and_thread(room, fake_model):
    fake_model.script(FakeResponse(content="x = 1\n"))
    request_id = await room.ask(mode="insert", instruction="add x", selection={"start": 0})
    await room.finished(request_id)
    reply = await room.channel.request({"type": "spark.pending"})
    assert reply["type"] == "spark.pending.ok"
    [pending] = reply["requests"]
    assert (pending["id"], pending["file_id"], pending["status"], pending["pending"]) == (
        request_id,
        room.node.id,
        "done",
        True,
    )
    assert [step["instruction"] for step in pending["thread"]] == ["add x"]
    assert set(pending["region"]) == {"start", "end"}
    assert pending["region"]["start"]["item"]["clock"] >= 0
    await room.channel.request({"type": "spark.accept", "id": request_id})
    assert (await room.channel.request({"type": "spark.pending"}))["requests"] == []


async def test_stop_reaches_a_chat_answer_streaming_for_another_process(room, fake_model):
    fake_model.script(FakeResponse(tokens=[f"w{i} " for i in range(2000)], tokens_per_second=200))
    request_id = await room.ask(mode="chat", instruction="talk", selection={"start": 0})
    await room.channel.wait_for(lambda m: m["type"] == "spark.chat.delta" and m["id"] == request_id, 20)
    job = runner._jobs.pop(request_id)  # seen from another process: only its bus topic leads to it
    reply = await room.channel.request({"type": "spark.cancel", "id": request_id})
    assert reply["type"] == "spark.cancel.ok" and reply.get("queued") is True, reply
    done = await room.finished(request_id)
    assert done["status"] == "cancelled"
    await asyncio.wait_for(job.task, 20)
    assert (await record(request_id)).tokens < 2000


async def test_a_follow_up_replaces_the_pending_text_and_reject_restores_the_text_from_before_the_thread(
    room, fake_model
):
    fake_model.script(FakeResponse(content="'hello there, my friend'"), FakeResponse(content="'hello'"))
    first = await room.ask(mode="replace", instruction="greet warmly", selection={"start": 6, "end": 10})
    await room.finished(first)
    await room.both_show("print('hello there, my friend')\n")
    await room.b.insert(0, "# bob\n")
    second = await room.ask(mode="replace", instruction="shorter", refine=first)
    done = await room.finished(second)
    assert done["status"] == "done" and done["pending"] is True
    await room.both_show("# bob\nprint('hello')\n")
    # The model saw the whole thread: the first instruction, the text before it, its answer, the follow-up.
    prompt = fake_model.requests[-1]["messages"][-1]["content"]
    assert "1. greet warmly" in prompt and "Follow-up: shorter" in prompt
    assert "'hi'" in prompt and "<current>\n'hello there, my friend'\n</current>" in prompt
    assert [step["instruction"] for step in done["thread"]] == ["greet warmly", "shorter"]
    row = await record(second)
    assert (row.parent_id, row.thread_id) == (first, first) and "Follow-up: shorter" in row.prompt
    pending = (await room.channel.request({"type": "spark.pending"}))["requests"]
    assert [p["id"] for p in pending] == [second]

    reply = await room.channel.request({"type": "spark.reject", "id": second})
    assert reply["status"] == "rejected", reply
    await room.both_show("# bob\nprint('hi')\n")
    assert (await record(first)).status == "rejected"


async def test_a_follow_up_on_an_edit_that_was_refined_already_is_refused(room, fake_model):
    fake_model.script(FakeResponse(content="a = 1\n"), FakeResponse(content="a = 2\n"))
    first = await room.ask(mode="insert", instruction="a", selection={"start": 0})
    await room.finished(first)
    second = await room.ask(mode="replace", instruction="two", refine=first)
    await room.finished(second)
    again = await room.channel.request(
        {"type": "spark.request", "file_id": room.node.id, "instruction": "three", "refine": first}
    )
    assert again["type"] == "error" and "refine the newest" in again["message"]


@pytest.fixture
async def lines_room(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    text = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"
    node = await database_sync_to_async(create_file_with_text)(workspace, "src/lines.py", text)
    async with Room(workspace, node, user, other_user) as shared:
        yield shared


async def test_hunks_are_rejected_and_accepted_one_by_one(lines_room, fake_model):
    room = lines_room
    fake_model.script(FakeResponse(content="a = 10\nb = 2\nc = 3\nd = 40\ne = 5\n"))
    request_id = await room.ask(mode="replace", instruction="scale", selection={"start": 0, "end": 30})
    done = await room.finished(request_id)
    hunks = done["hunks"]
    assert [(h["old"], h["new"]) for h in hunks] == [("a = 1\n", "a = 10\n"), ("d = 4\n", "d = 40\n")]
    assert all(set(h) >= {"start", "end"} for h in hunks)
    reply = await room.channel.request({"type": "spark.hunks", "id": request_id, "action": "reject", "hunks": [1]})
    assert reply["type"] == "spark.hunks.ok" and reply["hunks"] == {"1": "rejected"}, reply
    await room.both_show("a = 10\nb = 2\nc = 3\nd = 4\ne = 5\n")
    update = await room.event("spark.hunks", request_id)
    assert [h["state"] for h in update["hunks"]] == [None, "rejected"]
    reply = await room.channel.request({"type": "spark.hunks", "id": request_id, "action": "accept", "hunks": [0]})
    assert reply["status"] == "accepted"
    settled = await room.event("spark.settled", request_id)
    assert settled["status"] == "accepted"
    assert await room.stored_text() == "a = 10\nb = 2\nc = 3\nd = 4\ne = 5\n"


async def test_reject_all_after_a_hunk_was_accepted_rejects_only_the_others(lines_room, fake_model):
    room = lines_room
    fake_model.script(FakeResponse(content="a = 10\nb = 2\nc = 3\nd = 40\n"))
    request_id = await room.ask(mode="replace", instruction="scale", selection={"start": 0, "end": 30})
    await room.finished(request_id)
    await room.channel.request({"type": "spark.hunks", "id": request_id, "action": "accept", "hunks": [0]})
    reply = await room.channel.request({"type": "spark.reject", "id": request_id})
    assert reply["status"] == "accepted", reply  # one hunk kept
    await room.both_show("a = 10\nb = 2\nc = 3\nd = 4\ne = 5\n")


async def test_a_request_naming_several_files_is_offered_to_deep_instead_of_streaming(room, fake_model):
    reply = await room.channel.request(
        {"type": "spark.request", "file_id": room.node.id, "instruction": "move parse() from a.py into utils.py"}
    )
    assert reply["type"] == "spark.request.ok" and reply["handover_offered"] is True, reply
    assert "2 files" in reply["reason"] and fake_model.requests == []
    forced = await room.ask(instruction="move parse() from a.py into utils.py", force=True, selection={"start": 0})
    assert (await room.finished(forced))["status"] == "done"


async def test_when_the_model_says_the_task_needs_deep_nothing_reaches_the_document(room, fake_model):
    fake_model.script(FakeResponse(tokens=["DE", "EP: this needs", " the parser and its tests\n", "ignored"]))
    request_id = await room.ask(mode="insert", instruction="make it fast", selection={"start": 0})
    done = await room.finished(request_id)
    assert done["type"] == "spark.failed" and done["handover"] == "this needs the parser and its tests"
    assert done["pending"] is False
    await room.a.drain()
    assert str(room.a.text) == ORIGINAL and await room.stored_text() == ORIGINAL


def test_a_delete_set_update_removes_exactly_the_named_characters_whatever_their_encoding():
    from pycrdt import Doc, Text

    from workspace.spark.undo import EditRecord, delete_and_put_back, own_clock, utf16_len

    doc = Doc(client_id=7)
    text = doc.get("content", type=Text)
    text += "ab"
    record = EditRecord()
    for index, piece in ((1, "é😀"), (len("aé😀".encode()), "x\n")):
        clock = own_clock(doc)
        text.insert(index, piece)
        record.add(doc.client_id, clock, utf16_len(piece))
    assert str(text) == "aé😀x\nb" and record.own == [[7, 2, 5]]  # é (1) + 😀 (2) + x (1) + \n (1), one range
    other = Doc(client_id=9)
    other_text = other.get("content", type=Text)
    other.apply_update(doc.get_update())
    other_text.insert(len("aé".encode()), "Z")  # typed inside the AI text
    doc.apply_update(other.get_update(doc.get_state()))
    with doc.transaction():
        put_back = delete_and_put_back(doc, text, record.items, "OLD", record.at)
    assert str(text) == "aOLDZb" and put_back == [7, 7, 3]
    assert record.own_ids(1, 4) == [[7, 3, 3]]


def test_hunks_of_an_edit_widen_pure_deletions_to_a_neighbouring_line():
    from workspace.spark.review import hunks

    old = "a = 1\nb = 2\nc = 3\nd = 4\n"
    [changed, deleted] = hunks(old, "a = 10\nb = 2\nc = 3\n")
    assert (changed.old, changed.new, changed.start, changed.end) == ("a = 1\n", "a = 10\n", 0, 7)
    assert (deleted.old, deleted.new) == ("c = 3\nd = 4\n", "c = 3\n")  # "d = 4" went: "c = 3" is taken in
    assert hunks("x = 1\n", "") == []  # nothing written: only a full Reject


async def test_accepting_a_whole_spark_edit_takes_an_automatic_checkpoint_first(room, fake_model, user):
    from workspace.collab import contents
    from workspace.collab.models import Checkpoint

    fake_model.script(FakeResponse(content="x = 1\n"))
    request_id = await room.ask(mode="insert", instruction="add x", selection={"start": 0})
    await room.finished(request_id)
    await room.both_show("x = 1\n" + ORIGINAL)
    reply = await room.channel.request({"type": "spark.accept", "id": request_id})
    assert reply["status"] == "accepted", reply

    def taken() -> tuple[str, str, int | None, bytes]:
        checkpoint = Checkpoint.objects.get(workspace_id=room.workspace.id)
        held = contents.read(checkpoint.files.get(path=room.node.path).content_id)
        return checkpoint.kind, checkpoint.reason, checkpoint.created_by_id, held

    assert await database_sync_to_async(taken)() == (
        "auto",
        f"before accepting Spark request #{request_id}",
        user.id,  # who accepted
        ("x = 1\n" + ORIGINAL).encode(),
    )
