"""`python -m workspace.serve_ws`: the /ws/yjs process type on uvicorn, live against the test database, and the
bounded per-client outbox closing a client that stops reading, under uvicorn and under Daphne alike."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.live import ROOT, child_env, daphne_server, free_port, wait_for_port
from tests.support.ywebsockets import (
    SocketYClient,
    burst_frames,
    provider_client,
    room_url,
    slow_reader_socket,
    wait_until,
)
from workspace.collab import protocol, store
from workspace.collab.access import CLOSE_TOO_BIG, CLOSE_TOO_SLOW
from workspace.serve import PROTOCOL_HEADROOM_BYTES
from workspace.serve_ws import parse_arguments, uvicorn_options

QUEUE_BOUND = 256 * 1024


@contextmanager
def uvicorn_server(**env: str) -> Iterator[str]:
    """Yield the base URL of a `workspace.serve_ws` process serving Sparkroom."""
    port = free_port()
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    with open(ROOT / "test-artifacts" / f"uvicorn-{port}.log", "w") as log:
        command = [sys.executable, "-m", "workspace.serve_ws", "-b", "127.0.0.1", "-p", str(port)]
        proc = subprocess.Popen(command, cwd=ROOT, env=child_env(**env), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def uvicorn_url(django_db_setup, django_db_blocker):
    if not settings.REDIS_URL:
        pytest.skip("live server tests need PostgreSQL + Redis")
    with uvicorn_server() as url:
        yield url


@pytest.mark.embedded
def test_uvicorn_runs_on_uvloop_and_httptools_without_compression_and_admits_the_largest_document():
    options = uvicorn_options(parse_arguments(["-p", "8201", "--proxy-headers"]))
    assert (options["loop"], options["http"], options["ws"]) == ("uvloop", "httptools", "websockets-sansio")
    assert options["ws_max_size"] == settings.COLLAB_MAX_DOC_BYTES + PROTOCOL_HEADROOM_BYTES
    assert options["ws_per_message_deflate"] is False and options["access_log"] is False
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == "127.0.0.1"
    assert uvicorn_options(parse_arguments([]))["proxy_headers"] is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_two_clients_edit_one_document_through_uvicorn_and_the_edit_is_stored(
    uvicorn_url, workspace_with_file, user
):
    _, node = workspace_with_file
    url = room_url(uvicorn_url, node.id, user.id)
    async with provider_client(url) as first, provider_client(url) as second:
        assert str(second) == "print('hi')\n"
        first.insert(0, "# uvicorn\n")
        await wait_until(lambda: str(second) == "# uvicorn\nprint('hi')\n")
        second.insert(len(second), "# back\n")
        await wait_until(lambda: str(first) == "# uvicorn\nprint('hi')\n# back\n")
    assert await database_sync_to_async(store.load_text)(node.id) == "# uvicorn\nprint('hi')\n# back\n"


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_frame_over_the_collab_limit_gets_the_apps_too_big_close_under_uvicorn(
    uvicorn_url, workspace_with_file, user
):
    _, node = workspace_with_file
    payload = b"\x00" * (settings.COLLAB_MAX_FRAME_BYTES + 1024)
    async with connect(room_url(uvicorn_url, node.id, user.id), max_size=None) as ws:
        await ws.send(protocol.sync_update(payload))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_BIG


@pytest.fixture(params=["daphne", "uvicorn"], scope="module")
def small_queue_server(request, django_db_setup, django_db_blocker):
    """A server whose document connections may have at most QUEUE_BOUND bytes waiting."""
    if not settings.REDIS_URL:
        pytest.skip("live server tests need PostgreSQL + Redis")
    server = daphne_server if request.param == "daphne" else uvicorn_server
    with server(COLLAB_CLIENT_QUEUE_BYTES=str(QUEUE_BOUND)) as url:
        yield request.param, url


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_a_client_that_stops_reading_is_closed_with_4501_once_its_queue_passes_the_bound(
    small_queue_server, workspace_with_file, user
):
    """Megabytes more than the kernel buffers for a reader that reads nothing: the server's transport asks to pause,
    frames wait in the client's outbox, and past its bound the client is closed (4501: resync), its writer is not."""
    _, node = workspace_with_file
    server, base_url = small_queue_server
    url = room_url(base_url, node.id, user.id)
    chunks = [random.Random(seed).randbytes(200_000).hex() for seed in range(burst_frames(400_000))]
    sock = await slow_reader_socket(url, 32 * 1024)
    async with (
        connect(url, max_size=None) as writer_ws,
        connect(url, max_size=None, max_queue=1, sock=sock) as reader_ws,
    ):
        writer, reader = SocketYClient(writer_ws), SocketYClient(reader_ws)
        await writer.sync()
        await reader.sync()
        for chunk in chunks:  # the reader reads nothing meanwhile
            await writer.append(chunk)
        await writer.sync()  # the writer is still served
        with pytest.raises(ConnectionClosed) as closed:
            await reader.read_until(lambda: False, timeout=60)
    if server == "daphne" and closed.value.rcvd is None:
        # Autobahn (under Daphne) drops the TCP connection when the peer has not answered the close frame within
        # its close-handshake timeout (1 s): a reader this far behind never gets to read the 4501 frame queued
        # behind the frames it did not read. Either way it reconnects and resyncs; what matters is that it was
        # closed and that the writer was served meanwhile.
        assert closed.value.rcvd_then_sent is None
        return
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_SLOW
