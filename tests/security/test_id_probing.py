"""Ids cannot be probed over the sockets: another workspace's file closes a document socket exactly as a file
that does not exist (same close code, same reason). HTTP routes and workspace-channel messages are compared
for every discovered route and message type in tests/projects/test_authz_matrix.py."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.support.helpers import make_user
from workspace.asgi import application
from workspace.collab.access import CLOSE_NOT_FOUND
from workspace.collab.files import create_file_with_text
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

MISSING_FILE_ID = 987_654_321


async def first_answer(path: str, user) -> dict:
    """What the server sends first on `path`: for a refused socket, its close message (code and reason)."""
    comm = WebsocketCommunicator(application, path)
    comm.scope["user"] = user
    connected, _ = await comm.connect()
    assert connected
    try:
        # Not comm.receive_output(timeout): its timeout cancels the application under test.
        return await asyncio.wait_for(comm.output_queue.get(), 5)
    finally:
        await comm.disconnect()


def two_workspaces() -> tuple[object, dict[str, int]]:
    """A user, and the ids of files and folders of someone else's workspace."""
    me, stranger = make_user("me"), make_user("stranger")
    create_workspace(me, "mine")
    theirs = create_workspace(stranger, "theirs")
    node = create_file_with_text(theirs, "secret/plan.py", "x = 1\n")
    return me, {"workspace": theirs.id, "file": node.id, "folder": theirs.files.get(path="secret").id}


@pytest.mark.parametrize("kind", ["file", "folder"])
async def test_another_workspaces_file_closes_the_document_socket_exactly_as_a_missing_one(kind):
    me, theirs = await database_sync_to_async(two_workspaces)()
    their_answer = await first_answer(f"/ws/yjs/{theirs[kind]}", me)
    missing_answer = await first_answer(f"/ws/yjs/{MISSING_FILE_ID}", me)
    assert their_answer == missing_answer
    assert their_answer == {"type": "websocket.close", "code": CLOSE_NOT_FOUND, "reason": "no such file"}


async def test_an_id_beyond_the_id_column_closes_as_a_missing_file():
    me, _ = await database_sync_to_async(two_workspaces)()
    assert await first_answer(f"/ws/yjs/{2**63 + 5}", me) == await first_answer(f"/ws/yjs/{MISSING_FILE_ID}", me)


async def test_another_workspaces_channel_closes_exactly_as_a_missing_workspace():
    me, theirs = await database_sync_to_async(two_workspaces)()
    their_answer = await first_answer(f"/ws/workspace/{theirs['workspace']}", me)
    for missing in (MISSING_FILE_ID, 2**63 + 5):
        assert their_answer == await first_answer(f"/ws/workspace/{missing}", me)
