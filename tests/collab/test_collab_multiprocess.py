"""Fan-out across Daphne processes through the Redis channel layer, and no loss when a process is killed."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from channels.db import database_sync_to_async
from pycrdt import Doc

from tests.support.live import daphne_server
from tests.support.ywebsockets import provider_client, room_url, wait_until
from workspace.collab import store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def artifacts_dir(settings):
    (settings.BASE_DIR / "test-artifacts").mkdir(exist_ok=True)


def kill_hard(server_url: str) -> None:
    """SIGKILL the Daphne child serving `server_url`: no shutdown hooks, like a crashed process."""
    port = server_url.rsplit(":", 1)[1]
    for child in psutil.Process().children(recursive=True):
        if "workspace.serve" in child.cmdline() and port in child.cmdline():
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            return
    raise AssertionError(f"no daphne process on port {port}")


async def test_clients_on_two_daphne_processes_converge_and_persist(artifacts_dir, workspace_with_file, user):
    _, node = workspace_with_file
    with daphne_server() as server_a, daphne_server() as server_b:
        async with (
            provider_client(room_url(server_a, node.id, user.id)) as on_a,
            provider_client(room_url(server_b, node.id, user.id)) as on_b,
        ):
            on_a.insert(0, "# from a\n")
            on_b.insert(len(on_b), "# from b\n")
            expected = "# from a\nprint('hi')\n# from b\n"
            await wait_until(lambda: str(on_a) == str(on_b) == expected)
    assert await database_sync_to_async(store.load_text)(node.id) == expected


async def test_killed_daphne_process_loses_nothing_after_restart(artifacts_dir, workspace_with_file, user):
    _, node = workspace_with_file
    replica = Doc()
    with daphne_server() as survivor:
        async with provider_client(room_url(survivor, node.id, user.id)) as watcher:
            with daphne_server() as doomed:
                async with provider_client(room_url(doomed, node.id, user.id), replica) as text:
                    for line in ("one\n", "two\n", "three\n"):
                        text.insert(len(text), line)
                    await wait_until(lambda: str(watcher).endswith("three\n"))
                    kill_hard(doomed)
                    # Typed while the server is gone: kept in the local replica until the reconnect.
                    text.insert(len(text), "offline\n")
            with daphne_server() as restarted:
                async with provider_client(room_url(restarted, node.id, user.id), replica) as back:
                    await wait_until(lambda: str(watcher) == str(back) and str(watcher).endswith("offline\n"))
            expected = "print('hi')\none\ntwo\nthree\noffline\n"
            assert str(watcher) == expected
        async with provider_client(room_url(survivor, node.id, user.id)) as fresh:
            assert str(fresh) == expected
    assert await database_sync_to_async(store.load_text)(node.id) == expected
