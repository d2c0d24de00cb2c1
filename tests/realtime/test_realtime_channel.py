"""The workspace channel: connection rules, presence, role checks and broadcasts."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from tests.support.helpers import login_session_key, make_member, make_user
from tests.support.wsjson import WorkspaceClient, joined
from workspace.broadcast import broadcast_to_workspace
from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from workspace.projects import guard
from workspace.realtime.handlers import HANDLERS, register
from workspace.realtime.inbound import nesting_exceeds
from workspace.realtime.models import Presence

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


async def test_multibyte_message_over_the_byte_limit_is_refused_though_its_characters_are_within_it(
    workspace_with_file, user, settings
):
    settings.REALTIME_MAX_JSON_BYTES = 100
    workspace, _ = workspace_with_file
    client = await joined(workspace, user)
    message = json.dumps({"type": "presence.ping", "note": "é" * 40}, ensure_ascii=False)
    assert len(message) <= 100 < len(message.encode())
    await client.comm.send_to(text_data=message)
    assert await client.wait_for(lambda m: m["type"] == "error" and "limit 100 bytes" in m["message"])
    await client.close()


def online_usernames(message: dict) -> list[str]:
    return [u["username"] for u in message["users"]]


async def test_deeply_nested_json_gets_an_error_reply_and_the_connection_and_presence_stay(
    workspace_with_file, user, other_user
):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    await bob.wait_for(lambda m: m["type"] == "presence" and online_usernames(m) == ["alice", "bob"])
    await alice.comm.send_to(text_data="[" * 30000)
    error = await alice.wait_for(lambda m: m["type"] == "error")
    assert error["message"] == "message nested too deeply (limit 32 levels)"
    assert (await alice.request({"type": "presence.ping"}))["type"] == "presence.ping.ok"
    assert await alice.request({"type": "presence.ping", "deep": json.loads("[" * 30 + "]" * 30)})
    assert alice.closed_code is None
    await alice.close()
    assert await bob.wait_for(lambda m: m["type"] == "presence" and online_usernames(m) == ["bob"])
    await bob.close()


async def test_an_exception_while_handling_a_message_gets_an_error_reply_and_keeps_the_connection(
    workspace_with_file, user, other_user, monkeypatch
):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    await bob.wait_for(lambda m: m["type"] == "presence" and online_usernames(m) == ["alice", "bob"])
    real_role_of = guard.role_of
    failures = iter([RuntimeError("database went away")])

    def role_of_failing_once(*args):
        for failure in failures:
            raise failure
        return real_role_of(*args)

    monkeypatch.setattr(guard, "role_of", role_of_failing_once)
    reply = await alice.request({"type": "presence.ping"})
    assert reply["type"] == "error" and reply["message"] == "internal error"
    assert (await alice.request({"type": "presence.ping"}))["type"] == "presence.ping.ok"
    assert alice.closed_code is None
    await alice.close()
    assert await bob.wait_for(lambda m: m["type"] == "presence" and online_usernames(m) == ["bob"])
    assert not await Presence.objects.filter(user=user).aexists()
    await bob.close()


async def test_a_consumer_that_ends_abnormally_leaves_no_stale_presence(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    await bob.wait_for(lambda m: m["type"] == "presence" and online_usernames(m) == ["alice", "bob"])
    channel_name = (await Presence.objects.filter(user=user).afirst()).channel_name
    # A layer message no handler takes ends the consumer with ValueError, without `disconnect`.
    await get_channel_layer().send(channel_name, {"type": "no.such.handler"})
    assert await bob.wait_for(lambda m: m["type"] == "presence" and online_usernames(m) == ["bob"])
    assert not await Presence.objects.filter(user=user).aexists()
    with pytest.raises(ValueError, match="No handler for message type no.such.handler"):
        await alice.close()
    await bob.close()


@st.composite
def json_values(draw, max_leaves: int = 30):
    tricky_text = st.text(alphabet='[]{}"\\ab,:\n\u00e9', max_size=8)
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), tricky_text)
    return draw(
        st.recursive(
            scalars,
            lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(tricky_text, inner, max_size=4)),
            max_leaves=max_leaves,
        )
    )


def nesting_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(nesting_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting_depth, value.values()), default=0)
    return 0


@hypothesis_settings(max_examples=300, deadline=None)
@given(value=json_values(), limit=st.integers(0, 8), ensure_ascii=st.booleans())
def test_nesting_scan_agrees_with_the_parsed_depth_whatever_the_strings_hold(value, limit, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    assert nesting_exceeds(text, limit) == (nesting_depth(value) > limit)


def test_nesting_scan_takes_a_large_deep_message_without_recursing():
    assert nesting_exceeds("[" * 1_000_000, 32)
    assert nesting_exceeds('{"a":' * 33 + "1" + "}" * 33, 32)
    assert not nesting_exceeds('{"a":' * 32 + "1" + "}" * 32, 32)
    assert not nesting_exceeds(json.dumps({"type": "chat.send", "text": "[" * 5000 + '\\"{' * 100}), 32)


def workspace_socket_url(live_server_url: str, workspace_id: int) -> str:
    return live_server_url.replace("http://", "ws://", 1) + f"/ws/workspace/{workspace_id}"


def session_cookie(user) -> dict[str, str]:
    return {"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={login_session_key(user)}"}


async def receive_until(websocket, predicate, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await websocket.recv())
            if predicate(message):
                return message


@pytest.mark.redis
async def test_deeply_nested_json_through_daphne_gets_an_error_reply_and_presence_stays_correct(
    live_server_url, workspace_with_file, user, other_user
):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    url = workspace_socket_url(live_server_url, workspace.id)
    alice_cookie = await database_sync_to_async(session_cookie)(user)
    bob_cookie = await database_sync_to_async(session_cookie)(other_user)
    async with connect(url, additional_headers=bob_cookie) as bob:
        async with connect(url, additional_headers=alice_cookie) as alice:
            await receive_until(bob, lambda m: m["type"] == "presence" and online_usernames(m) == ["alice", "bob"])
            await alice.send("[" * 30000)
            error = await receive_until(alice, lambda m: m["type"] == "error")
            assert "nested too deeply" in error["message"]
            await alice.send(json.dumps({"type": "presence.ping", "request_id": "after"}))
            assert (await receive_until(alice, lambda m: m.get("request_id") == "after"))["type"] == "presence.ping.ok"
            assert alice.close_code is None
            assert await Presence.objects.filter(user=user).aexists()
        assert await receive_until(bob, lambda m: m["type"] == "presence" and online_usernames(m) == ["bob"])
        assert not await Presence.objects.filter(user=user).aexists()


@pytest.mark.redis
async def test_a_daphne_consumer_that_ends_abnormally_leaves_no_stale_presence(
    live_server_url, workspace_with_file, user, other_user
):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    url = workspace_socket_url(live_server_url, workspace.id)
    alice_cookie = await database_sync_to_async(session_cookie)(user)
    bob_cookie = await database_sync_to_async(session_cookie)(other_user)
    async with (
        connect(url, additional_headers=bob_cookie) as bob,
        connect(url, additional_headers=alice_cookie) as alice,
    ):
        await receive_until(bob, lambda m: m["type"] == "presence" and online_usernames(m) == ["alice", "bob"])
        channel_name = (await Presence.objects.filter(user=user).afirst()).channel_name
        await get_channel_layer().send(channel_name, {"type": "no.such.handler"})  # through Redis, to Daphne
        assert await receive_until(bob, lambda m: m["type"] == "presence" and online_usernames(m) == ["bob"])
        assert not await Presence.objects.filter(user=user).aexists()
        await alice.wait_closed()
        assert alice.close_code == 1011


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
