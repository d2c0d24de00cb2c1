"""A character every editor can type must not break the document's storage: NUL (U+0000) in the text."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.support.yclient import YClient
from workspace.collab import store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def test_a_document_holding_a_nul_character_still_compacts_and_loads(workspace_with_file, user):
    _, node = workspace_with_file
    client = YClient(node.id, user=user)
    assert await client.connect()
    await client.sync()
    await client.insert(0, "a\x00b\n")
    held = str(client.text)
    await client.close()
    await database_sync_to_async(store.compact)(node.id)
    assert await database_sync_to_async(store.pending_update_count)(node.id) == 0
    assert await database_sync_to_async(store.load_text)(node.id) == held
