"""The terminal socket: members see every terminal live, editors type, viewers watch, files go both ways."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from tests.support.helpers import make_member, make_user
from tests.support.terminal_client import TerminalSocket, connected
from workspace.collab import store
from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from workspace.jobs import sandbox
from workspace.projects.models import FileNode, Membership
from workspace.terminals import hub

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.embedded,
    pytest.mark.skipif(sandbox.bwrap_executable() is None, reason="bubblewrap not installed (make test installs it)"),
]


@pytest.fixture
async def end_terminals():
    yield
    await hub.end_all("test over")


async def test_editor_types_and_another_member_sees_the_output_live(workspace_with_file, user, end_terminals):
    workspace, _ = workspace_with_file
    bob = await database_sync_to_async(make_user)("bob")
    await database_sync_to_async(make_member)(workspace, bob, "viewer")
    alice = await connected(workspace.id, user)
    watcher = await connected(workspace.id, bob)
    terminal = await alice.open_terminal()
    await watcher.control(lambda m: m["type"] == "opened")
    await alice.type(terminal, "python src/main.py\r")
    await watcher.output_contains(terminal, b"hi\r\n")
    typing = await watcher.control(lambda m: m["type"] == "typing")
    assert typing == {"type": "typing", "terminal": terminal, "user": "alice"}
    await alice.close()
    await watcher.close()


async def test_viewer_cannot_type_and_is_told_why(workspace_with_file, user, end_terminals):
    workspace, _ = workspace_with_file
    bob = await database_sync_to_async(make_user)("bob")
    await database_sync_to_async(make_member)(workspace, bob, "viewer")
    alice = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    viewer = await connected(workspace.id, bob)
    await viewer.type(terminal, "touch from-viewer\r")
    error = await viewer.control(lambda m: m["type"] == "error")
    assert error["code"] == "forbidden" and error["message"] == "input needs the editor role"
    await viewer.send({"type": "open"})
    assert (await viewer.control(lambda m: m["type"] == "error" and "open" in m["message"]))["code"] == "forbidden"
    await alice.close()
    await viewer.close()


async def test_reattaching_client_gets_the_scrollback_replayed(workspace_with_file, user, end_terminals):
    workspace, _ = workspace_with_file
    first = await connected(workspace.id, user)
    terminal = await first.open_terminal()
    await first.type(terminal, "echo 'h\u00e9llo \u2603'\r")
    await first.output_contains(terminal, "h\u00e9llo \u2603\r\n".encode())
    await first.close()
    again = await connected(workspace.id, user)
    listing = await again.control(lambda m: m["type"] == "terminals")
    assert [t["id"] for t in listing["terminals"]] == [terminal]
    replayed = await again.output_contains(terminal, "h\u00e9llo \u2603\r\n".encode())
    assert replayed.decode("utf-8")  # whole characters, not cut in the middle
    await again.close()


async def test_a_file_written_in_the_terminal_becomes_a_workspace_file_by_the_user(
    workspace_with_file, user, end_terminals
):
    workspace, node = workspace_with_file
    alice = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    await alice.type(terminal, "echo made > out.txt; echo \"print('changed')\" > src/main.py\r")
    files = await alice.control(lambda m: m["type"] == "files")
    assert files["by"] == "alice" and files["created"] == ["out.txt"] and files["written"] == ["src/main.py"]
    created = await database_sync_to_async(FileNode.objects.get)(workspace=workspace, path="out.txt")
    assert await database_sync_to_async(store.load_text)(created.id) == "made\n"
    assert await database_sync_to_async(store.load_text)(node.id) == "print('changed')\n"
    await alice.close()


async def test_a_file_removed_in_the_terminal_is_deleted_from_the_workspace(workspace_with_file, user, end_terminals):
    workspace, node = workspace_with_file
    alice = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    await alice.type(terminal, "rm src/main.py\r")
    files = await alice.control(lambda m: m["type"] == "files")
    assert files["by"] == "alice" and files["deleted"] == ["src/main.py"] and files["skipped"] == []
    assert not await database_sync_to_async(FileNode.objects.filter(id=node.id).exists)()
    await alice.close()


async def test_a_file_removed_in_the_terminal_but_edited_live_meanwhile_is_kept_and_reported(
    workspace_with_file, user, end_terminals
):
    workspace, node = workspace_with_file
    alice = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    # Typed in the editor after the sandbox got its copy (the Enter sends live edits in first, then the command
    # runs): removing that copy must not lose the edit.
    await alice.type(terminal, "echo STAR''TED; sleep 3; rm src/main.py\r")
    await alice.output_contains(terminal, b"STARTED\r\n")
    await database_sync_to_async(store.replace_text)(node.id, "print('typed live')\n")
    files = await alice.control(lambda m: m["type"] == "files" and m["skipped"])
    assert files["deleted"] == []
    assert files["skipped"] == [
        "src/main.py: removed in the terminal, but edited in the editor since the command saw it; kept"
    ]
    assert await database_sync_to_async(store.load_text)(node.id) == "print('typed live')\n"
    await alice.close()


async def test_an_editor_edit_is_seen_by_the_next_command(workspace_with_file, user, end_terminals):
    workspace, node = workspace_with_file
    alice = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    await database_sync_to_async(store.replace_text)(node.id, "print('edited live')\n")
    await alice.type(terminal, "python src/main.py\r")
    await alice.output_contains(terminal, b"edited live\r\n")
    await alice.close()


async def test_anonymous_and_outsiders_are_closed(workspace_with_file):
    workspace, _ = workspace_with_file
    anonymous = TerminalSocket(workspace.id)
    await anonymous.connect()
    assert not await anonymous.next(3) and anonymous.closed_code == CLOSE_UNAUTHENTICATED
    await anonymous.close()
    eve = await database_sync_to_async(make_user)("eve")
    outsider = TerminalSocket(workspace.id, eve)
    await outsider.connect()
    assert not await outsider.next(3) and outsider.closed_code == CLOSE_FORBIDDEN
    await outsider.close()


async def test_run_types_the_files_command_into_the_run_terminal_and_stop_interrupts_it(
    workspace_with_file, user, end_terminals
):
    workspace, node = workspace_with_file
    alice = await connected(workspace.id, user)
    program = "import time\nprint('running', flush=True)\ntime.sleep(60)\n"
    await database_sync_to_async(store.replace_text)(node.id, program)
    await alice.send({"type": "run", "file_id": node.id, "cols": 100, "rows": 20})
    opened = await alice.control(lambda m: m["type"] == "opened", timeout=20)
    assert opened["terminal"]["title"] == "Run"
    run = opened["terminal"]["id"]
    output = await alice.output_contains(run, b"running\r\n")
    assert b"$ python src/main.py\r\n" in output  # typed at the prompt, once
    await alice.send({"type": "stop", "terminal": run})
    await alice.output_contains(run, b"KeyboardInterrupt")
    await alice.send({"type": "run", "file_id": node.id})
    await alice.output_contains(run, b"KeyboardInterrupt", timeout=1)
    while bytes(alice.output[run]).count(b"running\r\n") < 2:  # the second run, in the same Run terminal
        assert await alice.next(20)
    assert [m["terminal"]["id"] for m in alice.controls if m["type"] == "opened"] == [run]
    await alice.close()


async def test_a_client_that_disconnects_leaves_the_terminal_running_for_the_others(
    workspace_with_file, user, end_terminals
):
    workspace, _ = workspace_with_file
    alice = await connected(workspace.id, user)
    other = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    await alice.close()
    assert hub.hub_for(workspace.id).get(terminal) and len(hub.hub_for(workspace.id).clients) == 1
    await other.type(terminal, "echo still-''here\r")
    await other.output_contains(terminal, b"still-here\r\n")
    await other.close()
    assert hub.hub_for(workspace.id).clients == set()


async def test_a_run_of_a_file_without_a_run_command_says_so(workspace_with_file, user):
    workspace, _ = workspace_with_file
    readme = await database_sync_to_async(FileNode.objects.get)(workspace=workspace, path="README.md")
    alice = await connected(workspace.id, user)
    await alice.send({"type": "run", "file_id": readme.id})
    error = await alice.control(lambda m: m["type"] == "error")
    assert error["message"] == "no Run command for markdown files: set one for this workspace"
    await alice.close()


async def test_a_member_removed_while_connected_is_closed_and_a_demoted_editor_stops_typing(
    workspace_with_file, user, end_terminals
):
    workspace, _ = workspace_with_file
    bob = await database_sync_to_async(make_user)("bob")
    carol = await database_sync_to_async(make_user)("carol")
    await database_sync_to_async(make_member)(workspace, bob, "editor")
    await database_sync_to_async(make_member)(workspace, carol, "editor")
    alice = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    bob_socket, carol_socket = await connected(workspace.id, bob), await connected(workspace.id, carol)
    await database_sync_to_async(Membership.objects.filter(workspace=workspace, user=bob).update)(role="viewer")
    await database_sync_to_async(Membership.objects.filter(workspace=workspace, user=carol).delete)()
    with pytest.raises(ConnectionError):
        await carol_socket.control(lambda m: False, timeout=5)
    assert carol_socket.closed_code == CLOSE_FORBIDDEN
    await asyncio.sleep(1.5)  # past ROLE_RECHECK_SECONDS
    await bob_socket.type(terminal, "echo from-bob\r")
    assert (await bob_socket.control(lambda m: m["type"] == "error"))["code"] == "forbidden"
    for client in (alice, bob_socket, carol_socket):
        await client.close()


async def test_a_workspaces_own_run_command_replaces_the_built_in_one_for_everyone(
    workspace_with_file, user, end_terminals
):
    workspace, node = workspace_with_file
    alice = await connected(workspace.id, user)
    other = await connected(workspace.id, user)
    assert (await other.control(lambda m: m["type"] == "hello"))["run_commands"]["python"] == "python {path}"
    await alice.send({"type": "set_run_command", "language": "python", "command": "python -X dev {path} --flag"})
    changed = await other.control(lambda m: m["type"] == "run_commands")
    assert changed["commands"]["python"] == "python -X dev {path} --flag" and changed["by"] == "alice"
    await alice.send({"type": "run", "file_id": node.id})
    run = (await alice.control(lambda m: m["type"] == "opened", timeout=20))["terminal"]["id"]
    output = await alice.output_contains(run, b"hi\r\n")
    assert b"python -X dev src/main.py --flag" in output
    await alice.send({"type": "set_run_command", "language": "python", "command": "a\nb"})
    assert "one line" in (await alice.control(lambda m: m["type"] == "error"))["message"]
    await alice.send({"type": "set_run_command", "language": "python", "command": ""})
    reset = await alice.control(lambda m: m["type"] == "run_commands" and m["commands"]["python"] == "python {path}")
    assert reset["commands"]["python"] == "python {path}"
    await alice.close()
    await other.close()


async def test_terminals_per_workspace_are_bounded_and_close_ends_one_for_everyone(
    workspace_with_file, user, settings, end_terminals
):
    settings.TERMINAL_MAX_PER_WORKSPACE = 1
    workspace, _ = workspace_with_file
    alice = await connected(workspace.id, user)
    other = await connected(workspace.id, user)
    terminal = await alice.open_terminal()
    await alice.send({"type": "open"})
    error = await alice.control(lambda m: m["type"] == "error")
    assert "TERMINAL_MAX_PER_WORKSPACE" in error["message"]
    await alice.send({"type": "close", "terminal": terminal})
    ended = await other.control(lambda m: m["type"] == "ended")
    assert ended == {"type": "ended", "terminal": terminal, "reason": "closed by alice"}
    assert hub.hub_for(workspace.id).terminals == {}
    await alice.close()
    await other.close()


async def test_without_bubblewrap_no_terminal_starts_and_the_user_is_told_why(workspace_with_file, user, settings):
    settings.SANDBOX_BACKEND = "rlimit"  # the unsafe backend jobs may use never runs an interactive shell
    workspace, _ = workspace_with_file
    alice = await connected(workspace.id, user)
    await alice.send({"type": "open"})
    error = await alice.control(lambda m: m["type"] == "error")
    assert error["message"].startswith("Terminals need bubblewrap")
    assert hub.hub_for(workspace.id).terminals == {}
    await alice.close()
