"""The workspace channel: connection rules, presence, role checks and broadcasts."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from tests.helpers import make_member, make_user
from tests.wsjson import WorkspaceClient, joined
from workspace.broadcast import broadcast_to_workspace
from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from workspace.realtime.handlers import HANDLERS, register

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def test_member_gets_hello_with_role_and_presence(workspace_with_file, user):
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    assert client.seen[0]["role"] == "owner"
    presence = await client.wait_for(lambda m: m["type"] == "presence")
    assert [u["username"] for u in presence["users"]] == ["alice"]
    assert presence["users"][0]["color"].startswith("#")
    await client.close()


async def test_anonymous_is_closed_unauthenticated(workspace_with_file):
    workspace, _ = workspace_with_file
    client = WorkspaceClient(workspace.id)
    await client.connect()
    assert await client.next() is None
    assert client.closed_code == CLOSE_UNAUTHENTICATED
    await client.close()


async def test_non_member_is_closed_forbidden(workspace_with_file):
    workspace, _ = workspace_with_file
    stranger = await database_sync_to_async(make_user)("eve")
    client = WorkspaceClient(workspace.id, stranger)
    await client.connect()
    assert await client.next() is None
    assert client.closed_code == CLOSE_FORBIDDEN
    await client.close()


async def test_presence_shows_who_is_here_and_their_open_file(workspace_with_file, user, other_user):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    await alice.wait_for(lambda m: m["type"] == "presence" and len(m["users"]) == 2)
    reply = await bob.request({"type": "presence.open_file", "file_id": node.id})
    assert reply["type"] == "presence.open_file.ok"
    update = await alice.wait_for(
        lambda m: m["type"] == "presence" and any(u["file_id"] == node.id for u in m["users"])
    )
    assert {u["username"]: u["file_id"] for u in update["users"]} == {"alice": None, "bob": node.id}
    await bob.close()
    gone = await alice.wait_for(lambda m: m["type"] == "presence" and len(m["users"]) == 1)
    assert gone["users"][0]["username"] == "alice"
    await alice.close()


async def test_open_file_of_another_workspace_is_refused(workspace_with_file, user):
    workspace, _ = workspace_with_file
    from workspace.projects.services import create_workspace

    other = await database_sync_to_async(create_workspace)(user, "Other")
    other_file = await other.files.afirst()
    client = await joined(workspace, user)
    reply = await client.request({"type": "presence.open_file", "file_id": other_file.id})
    assert reply["type"] == "error" and "no such file" in reply["message"]
    await client.close()


async def test_malformed_json_and_unknown_types_get_clear_errors(workspace_with_file, user):
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    await client.comm.send_to(text_data="{not json")
    error = await client.wait_for(lambda m: m["type"] == "error")
    assert error["message"] == "malformed JSON"
    reply = await client.request({"type": "no.such.thing"})
    assert reply["type"] == "error" and "unknown type" in reply["message"]
    await client.comm.send_to(text_data="[1, 2]")
    error = await client.wait_for(lambda m: m["type"] == "error" and "string 'type'" in m["message"])
    assert error
    await client.close()


async def test_oversized_json_message_gets_an_error_and_the_connection_stays_usable(
    workspace_with_file, user, settings
):
    settings.REALTIME_MAX_JSON_BYTES = 100
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    await client.send({"type": "presence.ping", "padding": "x" * 500})
    error = await client.wait_for(lambda m: m["type"] == "error" and "too large" in m["message"])
    assert "limit 100 bytes" in error["message"]
    await client.send({"type": "nope"})
    assert await client.wait_for(lambda m: m["type"] == "error" and m["message"] != error["message"])
    assert client.closed_code is None
    await client.close()


async def test_role_below_a_handlers_minimum_is_refused(workspace_with_file, user):
    workspace, _ = workspace_with_file
    calls = []

    @register("test.owner_only", min_role="owner")
    async def owner_only(ctx, data):
        calls.append(ctx.username)
        return {"done": True}

    try:
        viewer = await database_sync_to_async(make_user)("val")
        await database_sync_to_async(make_member)(workspace, viewer, "viewer")
        client = await joined(workspace, viewer)
        reply = await client.request({"type": "test.owner_only"})
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        owner = await joined(workspace, user)
        assert (await owner.request({"type": "test.owner_only"}))["done"] is True
        assert calls == ["alice"]
        await client.close()
        await owner.close()
    finally:
        HANDLERS.pop("test.owner_only", None)


async def test_removed_member_loses_access_on_next_message(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    membership = await database_sync_to_async(make_member)(workspace, other_user, "editor")
    client = await joined(workspace, other_user)
    await membership.adelete()
    reply = await client.request({"type": "presence.ping"})
    assert reply["code"] == "forbidden"
    assert await client.next() is None
    assert client.closed_code == CLOSE_FORBIDDEN
    await client.close()


async def test_broadcast_from_sync_code_reaches_browsers(workspace_with_file, user):
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    await sync_to_async(broadcast_to_workspace, thread_sensitive=False)(workspace.id, "files.changed", {"n": 1})
    message = await client.wait_for(lambda m: m["type"] == "files.changed")
    assert message["n"] == 1
    await client.close()


async def test_broadcast_from_a_worker_thread_reaches_browsers(workspace_with_file, user):
    """Embedded mode: Celery runs in a thread with its own loop; messages must reach the server loop."""
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, broadcast_to_workspace, workspace.id, "job.progress", {"step": "plan"})
    message = await client.wait_for(lambda m: m["type"] == "job.progress")
    assert message["step"] == "plan"
    await client.close()


@pytest.mark.django_db
def test_presence_of_a_crashed_process_expires(workspace_with_file, user, settings):
    from datetime import timedelta

    from django.utils import timezone

    from workspace.realtime import presence
    from workspace.realtime.models import Presence

    workspace, _ = workspace_with_file
    presence.join("dead-channel", workspace.id, user.id)
    Presence.objects.filter(channel_name="dead-channel").update(seen_at=timezone.now() - timedelta(hours=1))
    assert presence.online(workspace.id) == []
    presence.join("live-channel", workspace.id, user.id)
    assert not Presence.objects.filter(channel_name="dead-channel").exists()
    assert [u["username"] for u in presence.online(workspace.id)] == ["alice"]
