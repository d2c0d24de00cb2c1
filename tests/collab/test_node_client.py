"""A stock y-websocket WebsocketProvider (Node, from frontend/node_modules) joins a live room unmodified."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from channels.db import database_sync_to_async

from tests.support.live import ROOT
from tests.support.ywebsockets import provider_client, room_url, wait_until
from workspace.collab import store
from workspace.collab.access import CLOSE_UNAUTHENTICATED
from workspace.collab.tokens import issue_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

NODE_CLIENT = ROOT / "tests" / "support" / "node" / "yclient.mjs"


async def run_node_client(
    url: str, file_id: int, token: str, insert: str, *expected: str
) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = await asyncio.create_subprocess_exec(
        node,
        str(NODE_CLIENT),
        url,
        str(file_id),
        token,
        insert,
        *expected,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return proc


async def finish(proc) -> tuple[int, dict, str]:
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    lines = stdout.decode().strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}, stderr.decode()


def yjs_base(live_server_url: str) -> str:
    return live_server_url.replace("http://", "ws://", 1) + "/ws/yjs"


async def test_stock_websocket_provider_and_pycrdt_client_converge(live_server_url, workspace_with_file, user):
    _, node = workspace_with_file
    async with provider_client(room_url(live_server_url, node.id, user.id)) as python_text:
        proc = await run_node_client(
            yjs_base(live_server_url), node.id, issue_token(user.id, node.id), "// from node\n", "# from python"
        )
        await wait_until(lambda: "// from node" in str(python_text), timeout=20)
        python_text.insert(len(python_text), "# from python\n")
        code, result, stderr = await finish(proc)
        assert code == 0, (result, stderr)
        expected = "// from node\nprint('hi')\n# from python\n"
        assert result["text"] == expected
        await wait_until(lambda: str(python_text) == expected)
    assert await database_sync_to_async(store.load_text)(node.id) == expected


async def test_stock_websocket_provider_with_bad_token_is_refused(live_server_url, workspace_with_file, user):
    _, node = workspace_with_file
    proc = await run_node_client(yjs_base(live_server_url), node.id, "not-a-token", "nope")
    code, result, _ = await finish(proc)
    assert code == 1
    assert result["error"] == f"closed {CLOSE_UNAUTHENTICATED}"
    assert await database_sync_to_async(store.load_text)(node.id) == "print('hi')\n"
