"""Who wrote what: every stored update records whom it was written for (a browser's authenticated user; Spark,
Deep and git writers with their user, kind and model), compaction keeps the authors, and `contributors_since`
answers the people and models who wrote to files since a time."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from tests.support.helpers import make_member, make_user
from tests.support.yclient import YClient
from workspace.collab import registry, store
from workspace.collab.attribution import DEEP, HUMAN, SPARK, Author, contributors_since
from workspace.collab.merge import merge_into_file
from workspace.collab.models import DocContribution, DocUpdate
from workspace.collab.ydoc import doc_text
from workspace.projects.models import Role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


def authors(file_id: int) -> list[tuple]:
    return list(
        DocUpdate.objects.filter(file_id=file_id)
        .order_by("id")
        .values_list("author_id", "origin_kind", "origin_model", "origin_ref")
    )


async def test_a_browsers_updates_are_stored_for_its_authenticated_user(workspace_with_file, user):
    workspace, node = workspace_with_file
    bob = await database_sync_to_async(make_user)("bob")
    await database_sync_to_async(make_member)(workspace, bob, Role.EDITOR)
    alice_client, bob_client = YClient(node.id, user=user), YClient(node.id, user=bob)
    for client in (alice_client, bob_client):
        assert await client.connect()
        await client.sync()
    before = len(await database_sync_to_async(authors)(node.id))
    try:
        await alice_client.insert(0, "# a\n")
        await bob_client.pump_until(lambda: "# a" in str(bob_client.text))
        await bob_client.insert(0, "# b\n")
        await alice_client.pump_until(lambda: "# b" in str(alice_client.text))
    finally:
        await alice_client.close()
        await bob_client.close()
    written = (await database_sync_to_async(authors)(node.id))[before:]
    assert written == [(user.id, HUMAN, "", ""), (bob.id, HUMAN, "", "")]


async def test_a_server_side_edit_through_the_room_is_stored_with_its_origin(workspace_with_file, user):
    _, node = workspace_with_file
    client = YClient(node.id, user=user)
    assert await client.connect()
    await client.sync()
    try:
        room = registry.get_loaded(node.id)
        text = doc_text(room.doc)
        stored = room.edit("spark:7", lambda: text.insert(0, "AI "), author=Author(user.id, SPARK, "tiny-model", "7"))
        await stored
        await client.pump_until(lambda: str(client.text).startswith("AI "))
    finally:
        await client.close()
    assert (await database_sync_to_async(authors)(node.id))[-1] == (user.id, SPARK, "tiny-model", "7")


def test_a_deep_apply_is_stored_for_the_jobs_user_and_model(workspace_with_file, user):
    _, node = workspace_with_file
    merge_into_file(
        node.id, "print('hi')\n", "print('hi')\nprint('deep')\n", "job:3", Author(user.id, DEEP, "big", "3")
    )
    assert authors(node.id)[-1] == (user.id, DEEP, "big", "3")
    assert store.load_text(node.id) == "print('hi')\nprint('deep')\n"


def test_contributors_since_a_time_survive_compaction_and_list_people_then_models(workspace_with_file, user):
    workspace, node = workspace_with_file
    bob = make_user("bob")
    bob.first_name, bob.last_name, bob.email = "Bob", "Builder", "bob@example.org"
    bob.save()
    carol = make_user("carol")
    store.replace_text(node.id, "old\n", Author(carol.id))  # before the commit: not a contributor since
    since = timezone.now()
    store.replace_text(node.id, "one\n", Author(bob.id))
    store.replace_text(node.id, "two\n", Author(user.id, SPARK, "spark-mini", "1"))
    store.replace_text(node.id, "three\n", Author(user.id, DEEP, "deep-large", "2"))
    expected = [
        ("human", "Bob Builder", "bob@example.org"),
        ("deep", "Deep (deep-large)", "deep@sparkroom.invalid"),
        ("spark", "Spark (spark-mini)", "spark@sparkroom.invalid"),
    ]

    def listed() -> list[tuple]:
        return [(c.kind, c.name, c.email) for c in contributors_since([node.id], since)]

    assert listed() == expected
    assert store.compact(node.id) > 0
    assert not DocUpdate.objects.filter(file_id=node.id).exists()
    assert DocContribution.objects.filter(file_id=node.id).count() >= 4
    assert listed() == expected
    assert {c.name for c in contributors_since([node.id], None)} >= {"carol", "Bob Builder"}
    assert contributors_since([node.id], timezone.now()) == []
