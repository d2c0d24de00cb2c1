"""Blame: each line's author (the person, or "Spark · model" with its request's prompt and history link) comes
from the updates the server stored for authenticated connections and server-side writers; AI-written lines stay
"unreviewed" until a person edits or reviews them; summaries count lines by author; viewers read, editors review."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from pycrdt import Doc, Text

from tests.support.helpers import make_member, make_user
from tests.support.history_data import make_spark
from tests.support.yclient import YClient
from workspace.collab import registry, store
from workspace.collab.attribution import HUMAN, SPARK, Author
from workspace.collab.ydoc import TEXT_NAME, doc_text
from workspace.projects.models import Role
from workspace.timeline import blame

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


def type_as(file_id: int, author: Author, change) -> None:
    """A replica of the stored document makes `change` to its text; the update is stored for `author`."""
    doc = Doc()
    for update in store.load_updates(file_id)[0]:
        doc.apply_update(update)
    text = doc.get(TEXT_NAME, type=Text)
    before = doc.get_state()
    change(text)
    store.append_update(file_id, doc.get_update(before), author)


def authors_of_lines(node) -> list[tuple[str, bool]]:
    result = blame.file_blame(node)
    return [
        (result.authors[index].name if index >= 0 else "", waiting)
        for index, waiting in zip(result.lines, result.unreviewed, strict=True)
    ]


async def test_two_people_and_a_spark_stream_through_the_room_are_each_blamed_for_their_lines(
    workspace_with_file, user
):
    workspace, node = workspace_with_file
    bob = await database_sync_to_async(make_user)("bob")
    await database_sync_to_async(make_member)(workspace, bob, Role.EDITOR)
    spark = await database_sync_to_async(make_spark)(workspace, user, file=node, prompt="write add()")
    alice_client, bob_client = YClient(node.id, user=user), YClient(node.id, user=bob)
    for client in (alice_client, bob_client):
        assert await client.connect()
        await client.sync()
    try:
        await alice_client.insert(0, "# alice\n")
        await bob_client.pump_until(lambda: "# alice" in str(bob_client.text))
        await bob_client.insert(len(bob_client.text), "# bob\n")
        await alice_client.pump_until(lambda: "# bob" in str(alice_client.text))
        room = registry.get_loaded(node.id)
        text = doc_text(room.doc)
        ai = Author(user.id, SPARK, "tiny-model", str(spark.id))
        await room.edit("spark", lambda: text.insert(len(text), "def add(a, b):\n    return a + b\n"), author=ai)
        await bob_client.pump_until(lambda: "return a + b" in str(bob_client.text))
        position = str(bob_client.text).index("return a + b") + len("return a + b")
        await bob_client.insert(position, "  # checked")
        await alice_client.pump_until(lambda: "# checked" in str(alice_client.text))
    finally:
        await alice_client.close()
        await bob_client.close()

    assert await database_sync_to_async(authors_of_lines)(node) == [
        ("alice", False),
        ("Sparkroom", False),
        ("bob", False),
        ("Spark · tiny-model", True),
        ("bob", False),  # Bob edited the model's line: his now, and no longer awaiting review
        ("", False),  # after the final line break
    ]
    result = await database_sync_to_async(blame.file_blame)(node)
    spark_author = next(author for author in result.authors if author.kind == SPARK)
    assert (spark_author.prompt, spark_author.link) == ("write add()", f"/history/spark/{spark.id}/")


def test_blame_survives_compaction_and_reviewing_clears_only_the_chosen_lines(workspace_with_file, user):
    workspace, node = workspace_with_file
    viewer, editor = make_user("viewer"), make_user("editor")
    make_member(workspace, viewer, Role.VIEWER)
    make_member(workspace, editor, Role.EDITOR)
    type_as(node.id, Author(editor.id, HUMAN), lambda text: text.insert(0, "x = 1\n"))
    store.compact(node.id)
    type_as(node.id, Author(user.id, SPARK, "m1", "11"), lambda text: text.insert(len(text), "y = 2\n"))
    type_as(node.id, Author(user.id, SPARK, "m1", "12"), lambda text: text.insert(len(text), "z = 3\n"))
    store.compact(node.id)
    type_as(node.id, Author(user.id, HUMAN), lambda text: text.insert(0, "# top\n"))
    assert authors_of_lines(node) == [
        ("alice", False),
        ("editor", False),
        ("Sparkroom", False),
        ("Spark · m1", True),
        ("Spark · m1", True),
        ("", False),
    ]
    reader, writer = Client(), Client()
    reader.force_login(viewer)
    writer.force_login(editor)
    assert reader.post(f"/api/files/{node.id}/blame/review", {}, content_type="application/json").status_code == 403
    answer = writer.post(
        f"/api/files/{node.id}/blame/review", {"first_line": 4, "last_line": 4}, content_type="application/json"
    )
    assert answer.json() == {"reviewed_origins": 1}
    body = reader.get(f"/api/files/{node.id}/blame").json()
    assert body["unreviewed"] == [False, False, False, False, True, False]
    names = [body["authors"][index]["name"] if index >= 0 else "" for index in body["lines"]]
    assert names == ["alice", "editor", "Sparkroom", "Spark · m1", "Spark · m1", ""]

    summary = reader.get(f"/api/files/{node.id}/authorship").json()
    assert (summary["lines"], summary["ai_lines"], summary["unreviewed_ai_lines"]) == (5, 2, 1)
    assert {(share["name"], share["lines"], share["share"]) for share in summary["authors"]} == {
        ("Spark · m1", 2, 0.4),
        ("alice", 1, 0.2),
        ("editor", 1, 0.2),
        ("Sparkroom", 1, 0.2),
    }
    overview = reader.get(f"/api/workspaces/{workspace.id}/authorship").json()
    assert overview["total"]["unreviewed_ai_lines"] == 1
    assert [item["path"] for item in overview["files"]] == ["README.md", "src/main.py"]


def test_a_person_editing_an_ai_line_takes_it_over(workspace_with_file, user):
    _, node = workspace_with_file
    type_as(node.id, Author(user.id, SPARK, "m", "5"), lambda text: text.insert(0, "value = compute()\n"))
    assert authors_of_lines(node)[0] == ("Spark · m", True)
    type_as(node.id, Author(user.id, HUMAN), lambda text: text.insert(len("value = compute()"), "  # ok"))
    assert authors_of_lines(node)[0] == ("alice", False)


def test_a_client_reusing_another_persons_yjs_client_id_is_credited_only_with_what_it_sent(workspace_with_file, user):
    _, node = workspace_with_file
    mallory = make_user("mallory")
    alice_replica = Doc(client_id=4242)
    for update in store.load_updates(node.id)[0]:
        alice_replica.apply_update(update)
    text = alice_replica.get(TEXT_NAME, type=Text)
    before = alice_replica.get_state()
    text.insert(0, "# alice\n")
    store.append_update(node.id, alice_replica.get_update(before), Author(user.id, HUMAN))
    # Mallory's replica claims Alice's Yjs client id; the server stores her update for her connection's user.
    mallory_replica = Doc(client_id=4242)
    for update in store.load_updates(node.id)[0]:
        mallory_replica.apply_update(update)
    text = mallory_replica.get(TEXT_NAME, type=Text)
    before = mallory_replica.get_state()
    text.insert(len(text), "# mallory\n")
    store.append_update(node.id, mallory_replica.get_update(before), Author(mallory.id, HUMAN))
    assert [name for name, _ in authors_of_lines(node)] == ["alice", "Sparkroom", "mallory", ""]
