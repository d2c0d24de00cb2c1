"""Authorisation matrix: every role against every HTTP endpoint, page and workspace-channel message type.

Endpoints and message types are discovered (ninja routes of `workspace.api.api`, Django URL patterns,
`workspace.realtime.handlers.HANDLERS`), so a new one without an entry in the tables below fails here.
Ids of another workspace must be refused (404 / an error reply), never leak its data, and be answered exactly
as ids that exist nowhere (same status and body, same reply), so that ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.support.helpers import make_member
from tests.support.history_data import make_job, make_spark
from tests.support.wsjson import WorkspaceClient
from workspace.collab import checkpoints, tombstones
from workspace.collab.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from workspace.collab.files import create_file_with_text
from workspace.collab.models import DeletedFile, DocUpdate
from workspace.collab.versions import compress
from workspace.projects.models import Role, role_at_least
from workspace.projects.services import create_workspace
from workspace.realtime.handlers import HANDLERS
from workspace.repos.models import GitOperation, ImportJob
from workspace.teams import services as teams
from workspace.timeline.models import FileRestore

PUBLIC = "public"  # anyone, logged in or not
LOGIN = "login"  # any logged-in user; the endpoint is not about one workspace
ROLES = ("owner", "editor", "viewer", "non-member", "anonymous")
SECRET = "B-SECRET-4242"  # planted in the other workspace: must never appear in a refused response


@dataclass(frozen=True)
class Http:
    minimum: str
    body: dict | None = None
    # Expected statuses for callers allowed in, when not simply "< 400".
    ok: tuple[int, ...] = ()
    # Ids passed as query parameters (filled like path parameters).
    query: tuple[str, ...] = ()


HTTP_MATRIX: dict[str, Http] = {
    # projects
    "GET /api/workspaces": Http(LOGIN),
    "POST /api/workspaces": Http(LOGIN, {"name": "New"}),
    "GET /api/workspaces/{workspace_id}/files": Http(Role.VIEWER),
    "POST /api/workspaces/{workspace_id}/files": Http(Role.EDITOR, {"path": "new.py"}),
    "PATCH /api/files/{file_id}": Http(Role.EDITOR, {"path": "renamed.py"}),
    "DELETE /api/files/{file_id}": Http(Role.EDITOR),
    "GET /api/files/{file_id}/text": Http(Role.VIEWER),
    "POST /api/files/{file_id}/token": Http(Role.VIEWER),
    # history
    "GET /api/history": Http(LOGIN),
    "GET /api/history/stats": Http(LOGIN),
    "GET /api/history/export": Http(LOGIN),
    "GET /api/history/workspaces/{workspace_id}": Http(Role.VIEWER),
    "GET /api/history/workspaces/{workspace_id}/stats": Http(Role.VIEWER),
    "GET /api/history/workspaces/{workspace_id}/export": Http(Role.VIEWER),
    "GET /api/history/spark/{request_id}": Http(Role.VIEWER),
    "GET /api/history/jobs/{job_id}": Http(Role.VIEWER),
    # teams
    "GET /api/workspaces/{workspace_id}/members": Http(Role.VIEWER),
    "PATCH /api/workspaces/{workspace_id}/members/{user_id}": Http(Role.OWNER, {"role": "editor"}),
    "DELETE /api/workspaces/{workspace_id}/members/{user_id}": Http(Role.OWNER),
    "GET /api/workspaces/{workspace_id}/invitations": Http(Role.OWNER),
    "POST /api/workspaces/{workspace_id}/invitations": Http(Role.OWNER, {"role": "viewer"}),
    "DELETE /api/workspaces/{workspace_id}/invitations/{invitation_id}": Http(Role.OWNER),
    "GET /api/workspaces/{workspace_id}/chat": Http(Role.VIEWER),
    # jobs (Deep mode); 400 = past the role gate but the action does not apply to a finished job
    "GET /api/workspaces/{workspace_id}/jobs": Http(Role.VIEWER),
    "POST /api/workspaces/{workspace_id}/jobs": Http(Role.EDITOR, {"kind": "lint", "prompt": ""}),
    "GET /api/jobs/{job_id}": Http(Role.VIEWER),
    "POST /api/jobs/{job_id}/cancel": Http(Role.EDITOR, ok=(200, 400)),
    "POST /api/jobs/{job_id}/apply": Http(Role.EDITOR, {"paths": None}, ok=(200, 400)),
    "GET /api/workspaces/{workspace_id}/environment": Http(Role.VIEWER),
    "PUT /api/workspaces/{workspace_id}/environment": Http(Role.OWNER, {"setup_network": False}),
    "PUT /api/workspaces/{workspace_id}/secrets/{secret_name}": Http(Role.OWNER, {"value": "s3cret-value"}),
    "DELETE /api/workspaces/{workspace_id}/secrets/{secret_name}": Http(Role.OWNER, ok=(200, 404)),
    "POST /api/jobs/{job_id}/resolve": Http(Role.EDITOR, {"path": "x.py", "index": 0, "choice": "ours"}, ok=(400,)),
    "POST /api/jobs/{job_id}/commit": Http(Role.EDITOR, {"message": ""}, ok=(200, 400)),
    # repositories: import (the https clone is only queued here), export, stored files; 415 = no preview of a text
    "POST /api/workspaces/{workspace_id}/import": Http(Role.EDITOR, {"git_url": "https://example.invalid/x.git"}),
    "GET /api/workspaces/{workspace_id}/imports": Http(Role.VIEWER),
    "GET /api/imports/{import_id}": Http(Role.VIEWER),
    "GET /api/workspaces/{workspace_id}/archive": Http(Role.VIEWER),
    "GET /api/files/{file_id}/download": Http(Role.VIEWER),
    "GET /api/files/{file_id}/preview": Http(Role.VIEWER, ok=(200, 415)),
    # git; 400 = past the role gate, but this workspace has no repository (or nothing to do)
    "GET /api/workspaces/{workspace_id}/git": Http(Role.VIEWER),
    "GET /api/workspaces/{workspace_id}/git/diff": Http(Role.VIEWER, ok=(200, 400), query=("path",)),
    "POST /api/workspaces/{workspace_id}/git/init": Http(Role.EDITOR, {"remote_url": ""}, ok=(200, 400)),
    "POST /api/workspaces/{workspace_id}/git/commit": Http(Role.EDITOR, {"message": "m"}, ok=(200, 400)),
    "POST /api/workspaces/{workspace_id}/git/push": Http(Role.EDITOR, ok=(200, 400)),
    "POST /api/workspaces/{workspace_id}/git/pull": Http(Role.EDITOR, ok=(200, 400)),
    "GET /api/git-operations/{operation_id}": Http(Role.VIEWER),
    "GET /api/workspaces/{workspace_id}/git/branches": Http(Role.VIEWER, ok=(200, 400)),
    "POST /api/workspaces/{workspace_id}/git/branches": Http(Role.EDITOR, {"name": "b"}, ok=(200, 400)),
    "POST /api/workspaces/{workspace_id}/git/switch": Http(Role.EDITOR, {"name": "b"}, ok=(200, 400)),
    "POST /api/workspaces/{workspace_id}/git/switch/undo": Http(Role.EDITOR, {"switch_id": 1}, ok=(200, 400)),
    # timeline: blame and authorship (viewers read, editors mark AI-written lines reviewed)
    "GET /api/files/{file_id}/blame": Http(Role.VIEWER),
    "POST /api/files/{file_id}/blame/review": Http(Role.EDITOR, {}),
    "GET /api/files/{file_id}/authorship": Http(Role.VIEWER),
    "GET /api/workspaces/{workspace_id}/authorship": Http(Role.VIEWER),
    # timeline: history (viewers read versions and diffs, editors restore; a restore is undone once, then 400)
    "GET /api/files/{file_id}/versions": Http(Role.VIEWER),
    "GET /api/files/{file_id}/versions/{version_id}": Http(Role.VIEWER),
    "GET /api/files/{file_id}/versions/{version_id}/diff": Http(Role.VIEWER),
    "POST /api/files/{file_id}/versions/{version_id}/restore": Http(Role.EDITOR, {}),
    "POST /api/files/{file_id}/restores/{restore_id}/undo": Http(Role.EDITOR, ok=(200, 400)),
    # checkpoints and deleted files (owners delete manual checkpoints)
    "GET /api/workspaces/{workspace_id}/checkpoints": Http(Role.VIEWER),
    "POST /api/workspaces/{workspace_id}/checkpoints": Http(Role.EDITOR, {"name": "before the demo"}),
    "GET /api/checkpoints/{checkpoint_id}": Http(Role.VIEWER),
    "DELETE /api/checkpoints/{checkpoint_id}": Http(Role.OWNER),
    "POST /api/checkpoints/{checkpoint_id}/restore": Http(Role.EDITOR, {}),
    "GET /api/workspaces/{workspace_id}/deleted-files": Http(Role.VIEWER),
    "POST /api/deleted-files/{deleted_id}/restore": Http(Role.EDITOR, {}),
    # spark
    "GET /api/spark/providers": Http(LOGIN),
    "GET /api/spark/requests": Http(Role.VIEWER, query=("workspace_id",)),
    "GET /api/spark/requests/{request_id}": Http(Role.VIEWER),
    "GET /api/spark/completions": Http(Role.VIEWER, query=("workspace_id",)),
    "PUT /api/spark/completions": Http(LOGIN, {"enabled": False}),
    "PUT /api/spark/workspaces/{workspace_id}/completions": Http(Role.OWNER, {"default": True}),
}

PAGE_MATRIX: dict[str, Http] = {
    "GET /": Http(LOGIN),
    "GET /w/{workspace_id}/": Http(Role.VIEWER),
    "GET /accounts/login/": Http(PUBLIC),
    "GET /accounts/signup/": Http(PUBLIC),
    "POST /accounts/logout/": Http(PUBLIC),
    "GET /history/": Http(LOGIN),
    "GET /history/w/{workspace_id}/": Http(Role.VIEWER),
    "GET /history/spark/{request_id}/": Http(Role.VIEWER),
    "GET /history/jobs/{job_id}/": Http(Role.VIEWER),
    "GET /teams/invite/{token}/": Http(PUBLIC),
    "GET /spark/settings/": Http(LOGIN),
}
# Page methods other than GET, for patterns that only make sense with one.
PAGE_METHODS = {"/accounts/logout/": "POST"}
IGNORED_URL_PREFIXES = ("admin/", "api/", "static/")


@dataclass(frozen=True)
class Message:
    minimum: str
    payload: Callable[[dict], dict] = field(default=lambda ids: {})
    # Payload naming the other workspace's objects; None when the type takes no ids.
    cross: Callable[[dict], dict] | None = None


WS_MATRIX: dict[str, Message] = {
    "presence.ping": Message(Role.VIEWER),
    "presence.open_file": Message(
        Role.VIEWER, lambda a: {"file_id": a["file_id"]}, lambda b: {"file_id": b["file_id"]}
    ),
    "presence.view": Message(Role.VIEWER, lambda a: {"file_id": a["file_id"]}, lambda b: {"file_id": b["file_id"]}),
    "chat.send": Message(Role.VIEWER, lambda a: {"text": "hi"}),
    "chat.history": Message(Role.VIEWER),
    # An unknown mode fails after the role gate, so no model is called; the cross case names B's file.
    "spark.request": Message(
        Role.EDITOR,
        lambda a: {"file_id": a["file_id"], "mode": "no-such-mode"},
        lambda b: {"file_id": b["file_id"], "mode": "insert", "content": "x = 1\n"},
    ),
    "spark.cancel": Message(Role.EDITOR, lambda a: {"id": a["request_id"]}, lambda b: {"id": b["request_id"]}),
    "spark.accept": Message(Role.EDITOR, lambda a: {"id": a["request_id"]}, lambda b: {"id": b["request_id"]}),
    "spark.reject": Message(Role.EDITOR, lambda a: {"id": a["request_id"]}, lambda b: {"id": b["request_id"]}),
    "spark.hunks": Message(
        Role.EDITOR,
        lambda a: {"id": a["request_id"], "action": "accept"},
        lambda b: {"id": b["request_id"], "action": "accept"},
    ),
    "spark.pending": Message(Role.VIEWER),
    # Allowed callers fail after the role gate (no job is created); the cross case names B's file.
    "spark.handover": Message(
        Role.EDITOR,
        lambda a: {"file_id": a["file_id"], "conversation": "not a list"},
        lambda b: {"file_id": b["file_id"], "instruction": "refactor"},
    ),
    "spark.complete": Message(
        Role.EDITOR,
        lambda a: {"file_id": a["file_id"], "prefix": 1, "suffix": ""},
        lambda b: {"file_id": b["file_id"], "prefix": "x = ", "suffix": ""},
    ),
    "spark.complete.cancel": Message(Role.EDITOR),
    "spark.complete.report": Message(Role.EDITOR, lambda a: {"key": "no-such-key", "outcome": "shown"}),
    "jobs.create": Message(Role.EDITOR, lambda a: {"kind": "no-such-kind", "prompt": "x"}),
    "jobs.list": Message(Role.VIEWER),
    "jobs.get": Message(Role.VIEWER, lambda a: {"job_id": a["job_id"]}, lambda b: {"job_id": b["job_id"]}),
    "jobs.cancel": Message(Role.EDITOR, lambda a: {"job_id": a["job_id"]}, lambda b: {"job_id": b["job_id"]}),
    "jobs.apply": Message(Role.EDITOR, lambda a: {"job_id": a["job_id"]}, lambda b: {"job_id": b["job_id"]}),
    "jobs.resolve": Message(
        Role.EDITOR,
        lambda a: {"job_id": a["job_id"], "path": "x.py", "index": 0, "choice": "ours"},
        lambda b: {"job_id": b["job_id"], "path": "x.py", "index": 0, "choice": "ours"},
    ),
}


# --- discovery -------------------------------------------------------------------------------------------


def api_endpoints() -> list[str]:
    from workspace.api import api

    paths = api.get_openapi_schema()["paths"]
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)


def _walk(patterns, prefix: str = "") -> list[str]:
    routes = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes += _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            routes.append(route)
    return routes


def page_endpoints() -> list[str]:
    import re

    keys = []
    for route in _walk(get_resolver().url_patterns):
        if route.startswith(IGNORED_URL_PREFIXES) or route.startswith("^"):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        keys.append(f"{PAGE_METHODS.get(path, 'GET')} {path}")
    return sorted(keys)


# --- the world: workspace A (members of every role) and workspace B (someone else's) -----------------------


@dataclass
class World:
    users: dict[str, object]
    a: dict[str, object]
    b: dict[str, object]


def quick_user(username: str):
    # No password: hashing one per user would make each of the hundreds of cases slow; tests force_login.
    return get_user_model().objects.create(username=username)


def build_world() -> World:
    owner, editor, viewer, outsider, target = (quick_user(n) for n in ("own", "edi", "vie", "out", "tgt"))
    stranger = quick_user("stranger")
    a_ws = create_workspace(owner, "A")
    for user, role in ((editor, Role.EDITOR), (viewer, Role.VIEWER), (target, Role.VIEWER)):
        make_member(a_ws, user, role)
    b_ws = create_workspace(stranger, SECRET)
    b_member = quick_user("bmember")
    make_member(b_ws, b_member, Role.VIEWER)

    def objects(ws, user, member) -> dict[str, object]:
        node = create_file_with_text(ws, "main.py", f"# {ws.name}\n")
        teams.post_chat(ws.id, user.id, f"chat in {ws.name}")
        return {
            "workspace_id": ws.id,
            "file_id": node.id,
            "request_id": make_spark(ws, user, file=node, prompt=f"prompt {ws.name}").id,
            "job_id": make_job(ws, user, prompt=f"job {ws.name}").id,
            "user_id": member.id,
            "invitation_id": teams.create_invitation(ws.id, user, Role.VIEWER).invitation.id,
            "token": teams.create_invitation(ws.id, user, Role.VIEWER, max_uses=100).token,
            "import_id": ImportJob.objects.create(workspace=ws, user=user, source="git", name=f"{ws.name}.git").id,
            "secret_name": "API_TOKEN",
            "operation_id": GitOperation.objects.create(workspace=ws, user=user, kind="pull").id,
            "path": "main.py",
            "version_id": DocUpdate.objects.filter(file_id=node.id).values_list("id", flat=True).get(),
            "restore_id": FileRestore.objects.create(
                file=node, user=user, version_id=0, text_before=compress(""), text_after=compress("")
            ).id,
            "checkpoint_id": checkpoints.create(ws.id, "manual", name=f"cp {ws.name}", user_id=user.id).id,
            "deleted_id": deleted_file(ws, user).id,
        }

    return World(
        users={"owner": owner, "editor": editor, "viewer": viewer, "non-member": outsider, "anonymous": None},
        a=objects(a_ws, owner, target),
        b=objects(b_ws, stranger, b_member),
    )


def deleted_file(ws, user) -> DeletedFile:
    tombstones.delete_file(create_file_with_text(ws, "gone.py", f"# gone from {ws.name}\n"), user.id)
    return DeletedFile.objects.get(workspace=ws, path="gone.py")


# Ids no object has: one an ordinary id could reach, one beyond the 64-bit column.
MISSING_IDS = (987_654_321, 2**63 + 5)


def missing_ids(ids: dict[str, object], value: int) -> dict[str, object]:
    """`ids` with every numeric id replaced by one that names nothing."""
    return {name: value if isinstance(v, int) else v for name, v in ids.items()}


def fill(path: str, ids: dict[str, object]) -> str:
    import re

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in ids:
            pytest.fail(f"{path}: no test value for path parameter {{{name}}}; add it to build_world() in {__file__}")
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", value, path)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def call(client: Client, key: str, spec: Http, ids: dict) -> object:
    method, path = key.split(" ", 1)
    url = fill(path, ids)
    if spec.query:
        url += "?" + "&".join(f"{name}={fill('{' + name + '}', ids)}" for name in spec.query)
    if spec.body is not None:
        return client.generic(method, url, data=__import__("json").dumps(spec.body), content_type="application/json")
    return client.generic(method, url)


def allowed(role: str, minimum: str) -> bool:
    if minimum == PUBLIC:
        return True
    if role == "anonymous":
        return False
    if minimum == LOGIN:
        return True
    return role in ("owner", "editor", "viewer") and role_at_least(role, minimum)


# --- HTTP ----------------------------------------------------------------------------------------------------


def _lookup(table: dict[str, Http], key: str, table_name: str) -> Http:
    if key not in table:
        pytest.fail(
            f"{key} has no entry in {table_name} ({__file__}): add its minimum role "
            f"({PUBLIC!r}, {LOGIN!r}, 'viewer', 'editor' or 'owner')"
        )
    return table[key]


def check(response, key: str, role: str, spec: Http, *, api: bool) -> None:
    status = response.status_code
    where = f"{key} as {role}"
    if allowed(role, spec.minimum):
        expected = spec.ok or tuple(range(200, 400))
        assert status in expected, f"{where}: expected success, got {status}: {response.content[:300]!r}"
    elif role == "anonymous":
        if api:
            assert status == 401, f"{where}: expected 401, got {status}"
        else:
            assert status == 302 and "/accounts/login/" in response["Location"], f"{where}: expected login redirect"
    elif role == "non-member":
        assert status == 404, f"{where}: a non-member must get 404 (no leak), got {status}"
    else:
        assert status == 403, f"{where}: a {role} is below {spec.minimum}, expected 403, got {status}"


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", api_endpoints())
def test_api_endpoint_enforces_its_minimum_role(key, role):
    spec = _lookup(HTTP_MATRIX, key, "HTTP_MATRIX")
    world = build_world()
    response = call(client_for(world.users[role]), key, spec, world.a)
    check(response, key, role, spec, api=True)


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", page_endpoints())
def test_page_enforces_its_minimum_role(key, role):
    spec = _lookup(PAGE_MATRIX, key, "PAGE_MATRIX")
    world = build_world()
    response = call(client_for(world.users[role]), key, spec, world.a)
    check(response, key, role, spec, api=False)


def _takes_ids(key: str) -> bool:
    spec = HTTP_MATRIX.get(key) or PAGE_MATRIX.get(key)
    return "{token}" not in key and ("{" in key or bool(spec and spec.query))


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize("key", [k for k in api_endpoints() + page_endpoints() if _takes_ids(k)])
def test_ids_of_another_workspace_are_refused_without_leaking(key):
    spec = HTTP_MATRIX.get(key) or _lookup(PAGE_MATRIX, key, "PAGE_MATRIX")
    world = build_world()
    response = call(client_for(world.users["owner"]), key, spec, world.b)
    assert response.status_code == 404, f"{key} with another workspace's ids gave {response.status_code}"
    assert SECRET.encode() not in response.content


def _answer(response) -> tuple[int, str, bytes]:
    return response.status_code, response.get("Content-Type", ""), response.content


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize("missing", MISSING_IDS)
@pytest.mark.parametrize("key", [k for k in api_endpoints() + page_endpoints() if _takes_ids(k)])
def test_another_workspaces_ids_answer_exactly_as_missing_ids(key, missing):
    spec = HTTP_MATRIX.get(key) or _lookup(PAGE_MATRIX, key, "PAGE_MATRIX")
    world = build_world()
    client = client_for(world.users["owner"])
    theirs = call(client, key, spec, world.b)
    nowhere = call(client, key, spec, missing_ids(world.b, missing))
    assert _answer(theirs) == _answer(nowhere), f"{key}: another workspace's ids are told apart from missing ones"


def _inner_id_names(key: str) -> list[str]:
    import re

    # A secret's name is not an id: it names a secret of the workspace in the same path, never another's.
    skipped = ("workspace_id", "token", "secret_name")
    return [name for name in re.findall(r"\{(\w+)\}", key) if name not in skipped]


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize("missing", MISSING_IDS)
@pytest.mark.parametrize("key", [k for k in api_endpoints() + page_endpoints() if _inner_id_names(k)])
def test_another_workspaces_ids_inside_your_workspace_answer_exactly_as_missing_ids(key, missing):
    """Your own workspace in the path, another workspace's member, invitation, file... in the rest of it."""
    spec = HTTP_MATRIX.get(key) or _lookup(PAGE_MATRIX, key, "PAGE_MATRIX")
    world = build_world()
    client = client_for(world.users["owner"])
    names = _inner_id_names(key)
    theirs = call(client, key, spec, {**world.a, **{n: world.b[n] for n in names}})
    nowhere = call(client, key, spec, {**world.a, **{n: missing for n in names}})
    assert _answer(theirs) == _answer(nowhere), f"{key}: another workspace's ids are told apart from missing ones"


@pytest.mark.embedded
@pytest.mark.parametrize(("table", "discovered"), [(HTTP_MATRIX, api_endpoints), (PAGE_MATRIX, page_endpoints)])
def test_matrix_lists_no_endpoint_that_no_longer_exists(table, discovered):
    stale = sorted(set(table) - set(discovered()))
    assert not stale, f"remove these entries from the matrix, the endpoints are gone: {stale}"


# --- workspace channel --------------------------------------------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_every_message_type_is_in_the_matrix_with_its_registered_role(name):
    if name not in WS_MATRIX:
        pytest.fail(f"message type {name!r} has no entry in WS_MATRIX ({__file__}): add its minimum role and payloads")
    assert HANDLERS[name].min_role == WS_MATRIX[name].minimum, f"{name} is registered with a different minimum role"


@pytest.mark.embedded
def test_ws_matrix_lists_no_type_that_no_longer_exists():
    assert not sorted(set(WS_MATRIX) - set(HANDLERS)), "remove message types that are no longer registered"


async def _reply(world: World, role: str, message: dict) -> dict:
    client = WorkspaceClient(world.a["workspace_id"], world.users[role])
    await client.connect()
    try:
        await client.wait_for(lambda m: m["type"] == "hello")
        return await client.request(message, timeout=5)
    finally:
        await client.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("role", ("owner", "editor", "viewer"))
@pytest.mark.parametrize("name", sorted(WS_MATRIX))
async def test_message_type_enforces_its_minimum_role(name, role):
    spec = WS_MATRIX[name]
    world = await database_sync_to_async(build_world)()
    reply = await _reply(world, role, {"type": name, **spec.payload(world.a)})
    if role_at_least(role, spec.minimum):
        assert reply.get("code") != "forbidden", f"{name} as {role} was refused: {reply}"
    else:
        assert reply["type"] == "error" and reply.get("code") == "forbidden", f"{name} as {role} got through: {reply}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("name", sorted(n for n, m in WS_MATRIX.items() if m.cross is not None))
async def test_message_with_another_workspaces_ids_is_refused(name):
    world = await database_sync_to_async(build_world)()
    reply = await _reply(world, "owner", {"type": name, **WS_MATRIX[name].cross(world.b)})
    assert reply["type"] == "error", f"{name} accepted ids of another workspace: {reply}"
    assert SECRET not in str(reply)


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("missing", MISSING_IDS)
@pytest.mark.parametrize("name", sorted(n for n, m in WS_MATRIX.items() if m.cross is not None))
async def test_message_with_another_workspaces_ids_answers_exactly_as_missing_ids(name, missing):
    world = await database_sync_to_async(build_world)()
    cross = WS_MATRIX[name].cross
    theirs = await _reply(world, "owner", {"type": name, **cross(world.b)})
    nowhere = await _reply(world, "owner", {"type": name, **cross(missing_ids(world.b, missing))})
    theirs.pop("request_id"), nowhere.pop("request_id")
    assert theirs == nowhere, f"{name}: another workspace's ids are told apart from missing ones"


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize(("role", "code"), [("anonymous", CLOSE_UNAUTHENTICATED), ("non-member", CLOSE_FORBIDDEN)])
async def test_outsiders_are_closed_before_any_message_type_runs(role, code):
    world = await database_sync_to_async(build_world)()
    client = WorkspaceClient(world.a["workspace_id"], world.users[role])
    await client.connect()
    try:
        assert await client.next() is None and client.closed_code == code
    finally:
        await client.close()


# --- terminal socket (/ws/terminal/<workspace_id>) ----------------------------------------------------------
# Payloads that pass the role check and then fail before any shell starts (no sandbox needed), and the ids of
# another workspace, which must be answered exactly as ids that exist nowhere.
TERMINAL_MATRIX: dict[str, Message] = {
    "open": Message(Role.EDITOR, lambda a: {"cols": "not a number"}),
    "input": Message(Role.EDITOR, lambda a: {"terminal": 987_654, "data": "ls\r"}),
    "resize": Message(Role.EDITOR, lambda a: {"terminal": 987_654, "cols": 80, "rows": 24}),
    "close": Message(Role.EDITOR, lambda a: {"terminal": 987_654}),
    "stop": Message(Role.EDITOR, lambda a: {"terminal": 987_654}),
    "run": Message(Role.EDITOR, lambda a: {"file_id": "main.py"}, lambda b: {"file_id": b["file_id"]}),
    "set_run_command": Message(Role.EDITOR, lambda a: {"language": "no-such-language", "command": "true"}),
}


@pytest.mark.embedded
def test_every_terminal_message_type_is_in_the_matrix_with_its_role():
    from workspace.terminals.consumers import MESSAGE_ROLES

    assert {name: spec.minimum for name, spec in TERMINAL_MATRIX.items()} == MESSAGE_ROLES


async def _terminal_reply(world: World, role: str, message: dict) -> dict:
    from tests.support.terminal_client import connected

    client = await connected(world.a["workspace_id"], world.users[role])
    try:
        await client.send(message)
        return await client.control(lambda m: m["type"] == "error", timeout=5)
    finally:
        await client.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("role", ("owner", "editor", "viewer"))
@pytest.mark.parametrize("name", sorted(TERMINAL_MATRIX))
async def test_terminal_message_type_enforces_its_minimum_role(name, role):
    spec = TERMINAL_MATRIX[name]
    world = await database_sync_to_async(build_world)()
    reply = await _terminal_reply(world, role, {"type": name, **spec.payload(world.a)})
    if role_at_least(role, spec.minimum):
        assert reply.get("code") != "forbidden", f"{name} as {role} was refused: {reply}"
    else:
        assert reply.get("code") == "forbidden", f"{name} as {role} got through: {reply}"
        assert reply["message"] == f"{name} needs the {spec.minimum} role"


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize("missing", MISSING_IDS)
@pytest.mark.parametrize("name", sorted(n for n, m in TERMINAL_MATRIX.items() if m.cross is not None))
async def test_terminal_message_with_another_workspaces_ids_answers_exactly_as_missing_ids(name, missing):
    world = await database_sync_to_async(build_world)()
    cross = TERMINAL_MATRIX[name].cross
    theirs = await _terminal_reply(world, "owner", {"type": name, **cross(world.b)})
    nowhere = await _terminal_reply(world, "owner", {"type": name, **cross(missing_ids(world.b, missing))})
    assert theirs == nowhere and SECRET not in str(theirs), f"{name}: another workspace's ids are told apart"


@pytest.mark.django_db(transaction=True)
@pytest.mark.embedded
@pytest.mark.parametrize(("role", "code"), [("anonymous", CLOSE_UNAUTHENTICATED), ("non-member", CLOSE_FORBIDDEN)])
async def test_outsiders_are_closed_before_any_terminal_message_runs(role, code):
    from tests.support.terminal_client import TerminalSocket

    world = await database_sync_to_async(build_world)()
    client = TerminalSocket(world.a["workspace_id"], world.users[role])
    await client.connect()
    try:
        assert not await client.next(5) and client.closed_code == code
    finally:
        await client.close()
