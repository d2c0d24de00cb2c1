"""Chat and follow mode over the workspace channel."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.support.helpers import make_member, make_user
from tests.support.wsjson import joined
from workspace.projects.services import create_workspace
from workspace.teams import services
from workspace.teams.models import ChatMessage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def test_chat_is_stored_and_broadcast_to_everyone_including_viewers(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "viewer")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    try:
        reply = await bob.request({"type": "chat.send", "text": "  hello from a viewer  "})
        assert reply["type"] == "chat.send.ok" and reply["message"]["text"] == "hello from a viewer"
        seen = await alice.wait_for(lambda m: m["type"] == "chat.message")
        assert seen["message"]["username"] == "bob" and seen["message"]["color"].startswith("#")
        assert await ChatMessage.objects.filter(workspace=workspace, text="hello from a viewer").aexists()
        history = await alice.request({"type": "chat.history", "limit": 10})
        assert [m["text"] for m in history["messages"]] == ["hello from a viewer"]
    finally:
        await alice.close()
        await bob.close()


async def test_chat_refuses_empty_and_oversized_messages(workspace_with_file, user):
    workspace, _ = workspace_with_file
    alice = await joined(workspace, user)
    try:
        empty = await alice.request({"type": "chat.send", "text": ""})
        assert empty["type"] == "error" and "needs some text" in empty["message"]
        huge = await alice.request({"type": "chat.send", "text": "x" * (services.MAX_CHAT_LENGTH + 1)})
        assert huge["type"] == "error" and "at most" in huge["message"]
        assert not await ChatMessage.objects.aexists()
    finally:
        await alice.close()


async def test_chat_history_never_shows_another_workspaces_messages(workspace_with_file, user):
    workspace, _ = workspace_with_file
    other = await database_sync_to_async(create_workspace)(user, "Other")
    await database_sync_to_async(services.post_chat)(other.id, user.id, "elsewhere")
    alice = await joined(workspace, user)
    try:
        reply = await alice.request({"type": "chat.history"})
        assert reply["messages"] == []
    finally:
        await alice.close()


async def test_view_position_is_broadcast_for_followers(workspace_with_file, user, other_user):
    workspace, node = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    try:
        reply = await alice.request(
            {"type": "presence.view", "file_id": node.id, "cursor": {"lineNumber": 3, "column": 7}, "scroll_top": 120}
        )
        assert reply["type"] == "presence.view.ok"
        view = await bob.wait_for(lambda m: m["type"] == "presence.view")
        assert view["user_id"] == user.id and view["file_id"] == node.id
        assert view["cursor"] == {"lineNumber": 3, "column": 7} and view["scroll_top"] == 120
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"cursor": {"lineNumber": 0, "column": 1}},
        {"cursor": "top"},
        {"scroll_top": -5},
        {"file_id": "12"},
    ],
)
async def test_malformed_view_positions_are_refused(workspace_with_file, user, bad):
    workspace, node = workspace_with_file
    alice = await joined(workspace, user)
    try:
        reply = await alice.request({"type": "presence.view", "file_id": node.id, **bad})
        assert reply["type"] == "error"
    finally:
        await alice.close()


async def test_following_a_file_of_another_workspace_is_refused(workspace_with_file, user):
    workspace, _ = workspace_with_file
    stranger = await database_sync_to_async(make_user)("eve")
    other = await database_sync_to_async(create_workspace)(stranger, "Secret")
    secret_file = await other.files.afirst()
    alice = await joined(workspace, user)
    try:
        reply = await alice.request({"type": "presence.view", "file_id": secret_file.id})
        assert reply["type"] == "error" and "no such file" in reply["message"]
    finally:
        await alice.close()


async def test_a_removed_member_can_no_longer_chat(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    bob = await joined(workspace, other_user)
    try:
        await database_sync_to_async(services.remove_member)(workspace.id, other_user.id)
        reply = await bob.request({"type": "chat.send", "text": "still here?"})
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        assert not await ChatMessage.objects.aexists()
    finally:
        await bob.close()


async def test_a_removed_member_stops_receiving_workspace_events_at_once(workspace_with_file, user, other_user):
    workspace, _ = workspace_with_file
    await database_sync_to_async(make_member)(workspace, other_user, "editor")
    alice = await joined(workspace, user)
    bob = await joined(workspace, other_user)
    try:
        await database_sync_to_async(services.remove_member)(workspace.id, other_user.id)
        await bob.wait_for(lambda m: m["type"] == "access.revoked")
        await alice.request({"type": "chat.send", "text": "bob should not read this"})
        with pytest.raises(TimeoutError):
            await bob.wait_for(lambda m: m["type"] == "chat.message", timeout=0.5)
    finally:
        await alice.close()
        await bob.close()
