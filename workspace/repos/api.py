"""Repositories over HTTP: start an import (archive upload or git clone), follow it, export a zip, download and
preview stored files; the git work tree (changes, diff, commit, initialise, push / pull, branches). Editors
import, commit, push, pull, create and switch branches; viewers follow imports, export, download, and see the
changes, diffs and branches."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import ValidationError

from tasks.git import enqueue as enqueue_git
from tasks.repos import enqueue
from workspace.broadcast import broadcast_to_workspace
from workspace.projects import guard
from workspace.projects.models import Role, Workspace
from workspace.projects.services import FileTreeError
from workspace.repos import blobs, branches, events, export, importer, sync, working
from workspace.repos.git import GitError
from workspace.repos.models import GitOperation, ImportJob, Repository

router = Router(tags=["repositories"])
PREFIX = ""
# Shown by a browser that opens a preview directly: no script, nothing loaded but the file itself.
PREVIEW_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


class GitImportIn(Schema):
    git_url: str
    ref: str = ""
    shallow: bool = True
    deploy_key: str = ""
    into: str = ""


RAW_ARCHIVE_TYPES = (
    "application/zip",
    "application/x-tar",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/octet-stream",
)
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["archive"],
                    "properties": {
                        "archive": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz archive (a folder: tar it)",
                        },
                        "into": {"type": "string", "description": "Folder of the workspace to import into"},
                    },
                }
            },
            "application/json": {"schema": GitImportIn.model_json_schema()},
            # The archive itself as the body (what the editor sends): cheaper for the web process than multipart,
            # which Daphne's HTTP layer parses once more in its event loop. `?name=` and `?into=` go in the query.
            **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in RAW_ARCHIVE_TYPES},
        },
    }
}


def _guard(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except importer.ArchiveTooLarge as exc:
        raise HttpError(413, str(exc)) from exc
    except (importer.ImportRequestError, GitError, FileTreeError) as exc:
        raise HttpError(400, str(exc)) from exc
    except guard.NotFound as exc:
        raise HttpError(404, str(exc)) from exc
    except guard.Forbidden as exc:
        raise HttpError(403, str(exc)) from exc


@router.post(
    "/workspaces/{workspace_id}/import",
    openapi_extra=IMPORT_BODY,
    summary="Import an archive (multipart `archive`, or the archive as the body) or clone a git repository (JSON)",
)
def start_import(request, workspace_id: int):
    """Queues the import and returns it (poll `GET /api/imports/{id}` or listen to `import.*` events).

    Files whose path exists in the workspace are skipped, never overwritten. An ssh `deploy_key` is kept on the
    server and never shown back.
    """
    guard.api_role(request, workspace_id, Role.EDITOR)
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("archive")
        if upload is None:
            raise HttpError(400, "Send the archive as the multipart field 'archive'.")
        into = request.POST.get("into", "")
        job = _guard(importer.create_archive_import, request.user, workspace_id, upload, into=into, enqueue=enqueue)
    elif request.content_type in RAW_ARCHIVE_TYPES:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
        name, into = request.GET.get("name", ""), request.GET.get("into", "")
        job = _guard(
            importer.create_archive_import_from_body,
            request.user,
            workspace_id,
            request,
            size,
            name=name,
            into=into,
            enqueue=enqueue,
        )
    else:
        try:
            payload = GitImportIn.model_validate_json(request.body or b"{}")
        except ValidationError as exc:
            raise HttpError(400, "Send a multipart 'archive', or JSON with a 'git_url' (and 'ref').") from exc
        job = _guard(
            importer.create_git_import,
            request.user,
            workspace_id,
            git_url=payload.git_url,
            ref=payload.ref,
            shallow=payload.shallow,
            deploy_key=payload.deploy_key,
            into=payload.into,
            enqueue=enqueue,
        )
    return events.summary(job)


@router.get("/workspaces/{workspace_id}/imports", summary="The workspace's recent imports")
def list_imports(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return _guard(importer.list_imports, request.user, workspace_id)


@router.get("/imports/{import_id}", summary="An import: status, progress and, once finished, its summary")
def import_status(request, import_id: int):
    job = ImportJob.objects.filter(id=import_id).only("workspace_id").first() if 0 < import_id <= guard.MAX_ID else None
    # Another workspace's import answers exactly as a missing one.
    if job is None or guard.role_of(request.user, job.workspace_id) is None:
        raise HttpError(404, "import not found")
    return events.summary(_guard(importer.get_import, request.user, import_id))


ZIP_RESPONSE = {"responses": {200: {"description": "A zip archive", "content": {"application/zip": {}}}}}


@router.get("/workspaces/{workspace_id}/archive", openapi_extra=ZIP_RESPONSE, summary="Export as a zip")
async def archive(request, workspace_id: int, path: str = ""):
    """Every file's current content (live documents' text, stored files' bytes) as of one instant; `path`: only
    that folder."""
    await sync_to_async(guard.api_role)(request, workspace_id, Role.VIEWER)
    name = await Workspace.objects.filter(id=workspace_id).values_list("name", flat=True).afirst()
    try:
        snapshot = await sync_to_async(export.take_snapshot)(workspace_id, path, _download_name(name or "workspace"))
    except export.ExportError as exc:
        raise HttpError(404, str(exc)) from exc
    built = await asyncio.to_thread(export.write_zip, snapshot)  # no database: off the request thread
    response = StreamingHttpResponse(export.chunks(built.handle), content_type="application/zip")
    response["Content-Length"] = str(built.size)
    response["Content-Disposition"] = content_disposition_header(True, built.filename)
    return response


def _download_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-.") or "workspace"


BYTES_RESPONSE = {"responses": {200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}}}}


@router.get("/files/{file_id}/download", openapi_extra=BYTES_RESPONSE, summary="Download a file")
def download(request, file_id: int):
    """A live document's current text (UTF-8), or a stored file's bytes, as an attachment."""
    node = guard.api_file(request, file_id, Role.VIEWER)
    if node.is_folder:
        raise HttpError(400, f"{node.path} is a folder: export it as a zip (GET /api/workspaces/{{id}}/archive)")
    response = HttpResponse(blobs.content(node), content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, node.name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/files/{file_id}/preview", openapi_extra=BYTES_RESPONSE, summary="Preview a stored file inline")
def preview(request, file_id: int):
    """An image (PNG, JPEG, GIF, WebP, AVIF, BMP, ICO, recognised by its bytes), or the first 256 KiB of a
    read-only text file; 415 for anything else."""
    node = guard.api_file(request, file_id, Role.VIEWER)
    try:
        data, content_type = blobs.preview(node)
    except blobs.NoPreview as exc:
        raise HttpError(415, str(exc)) from exc
    response = HttpResponse(data, content_type=content_type)
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = content_disposition_header(False, node.name)
    response["Cache-Control"] = "private, no-cache"
    return response


# --- git --------------------------------------------------------------------------------------------------------


class InitIn(Schema):
    remote_url: str = ""
    branch: str = "main"


class CommitIn(Schema):
    message: str
    paths: list[str] | None = None


class BranchIn(Schema):
    name: str
    # Switch even though others are in the workspace (the answer without it: 409 naming them).
    confirm: bool = False


class UndoSwitchIn(Schema):
    switch_id: int
    confirm: bool = False


CONFIRM_RESPONSE = {
    "responses": {
        409: {
            "description": "Others are editing: ask the user, naming them, then send `confirm: true`",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "detail": {"type": "string"},
                            "editing": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                }
            },
        }
    }
}


def _changed(workspace_id: int) -> None:
    """Every member's changes view refreshes (a commit, a switch, a new repository)."""
    broadcast_to_workspace(workspace_id, "git.changed", {})


@router.get("/workspaces/{workspace_id}/git", summary="The repository and the files changed since its last commit")
def git_status(request, workspace_id: int):
    """`{"initialised": false}` for a workspace without a repository; else its branch, HEAD commit, remote,
    `changes`: [{path, status (added / modified / deleted), file_id}] and `switch`: the branch switch that can be
    undone ({id, from_branch, to_branch, user}) or null."""
    guard.api_role(request, workspace_id, Role.VIEWER)
    if not Repository.objects.filter(workspace_id=workspace_id).exists():
        return {"initialised": False, "changes": []}
    status = _guard(working.status, workspace_id)
    return {"initialised": True, **status, "switch": branches.undoable_switch(workspace_id)}


@router.get("/workspaces/{workspace_id}/git/diff", summary="A file's text at the last commit and live")
def git_diff(request, workspace_id: int, path: str):
    """{path, head (None: not in the last commit), live (None: deleted), binary}."""
    guard.api_role(request, workspace_id, Role.VIEWER)
    return _guard(working.diff, workspace_id, path)


@router.post("/workspaces/{workspace_id}/git/init", summary="Initialise a git repository for the workspace")
def git_init(request, workspace_id: int, payload: InitIn):
    guard.api_role(request, workspace_id, Role.EDITOR)
    result = _guard(
        working.initialise, request.user, workspace_id, remote_url=payload.remote_url, branch=payload.branch
    )
    _changed(workspace_id)
    return result


@router.post("/workspaces/{workspace_id}/git/commit", summary="Commit the live text of the changed files")
def git_commit(request, workspace_id: int, payload: CommitIn):
    """All changed files, or those of `paths`; the author is the caller, every other person and model who wrote
    to them since the last commit a `Co-authored-by:` trailer."""
    guard.api_role(request, workspace_id, Role.EDITOR)
    result = _guard(working.commit, request.user, workspace_id, payload.message, payload.paths)
    _changed(workspace_id)
    return result


def _start_operation(request, workspace_id: int, kind: str) -> dict:
    guard.api_role(request, workspace_id, Role.EDITOR)
    operation = _guard(sync.start, request.user, workspace_id, kind, enqueue_git)
    return sync.summary(operation)


@router.post("/workspaces/{workspace_id}/git/push", summary="Push the current branch to the remote (a job)")
def git_push(request, workspace_id: int):
    """Queues the push; follow it at `GET /api/git-operations/{id}` or by the `git.progress` / `git.finished`
    events."""
    return _start_operation(request, workspace_id, "push")


@router.post("/workspaces/{workspace_id}/git/pull", summary="Pull the remote's branch into the live files (a job)")
def git_pull(request, workspace_id: int):
    """Queues the pull: a three-way merge (last commit, remote, live) into the live documents while people edit;
    conflicts keep the live text and are listed in the result."""
    return _start_operation(request, workspace_id, "pull")


@router.get("/git-operations/{operation_id}", summary="A push or pull: status, progress and result")
def git_operation(request, operation_id: int):
    operation = (
        GitOperation.objects.filter(id=operation_id).select_related("user").first()
        if 0 < operation_id <= guard.MAX_ID
        else None
    )
    # Another workspace's operation answers exactly as a missing one.
    if operation is None or guard.role_of(request.user, operation.workspace_id) is None:
        raise HttpError(404, "git operation not found")
    return sync.summary(operation)


@router.get("/workspaces/{workspace_id}/git/branches", summary="Branches, the current one, and who is editing")
def git_branches(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return _guard(branches.list_branches, workspace_id)


@router.post("/workspaces/{workspace_id}/git/branches", summary="Create a branch at the last commit")
def git_create_branch(request, workspace_id: int, payload: BranchIn):
    guard.api_role(request, workspace_id, Role.EDITOR)
    return _guard(branches.create_branch, workspace_id, payload.name)


@router.post(
    "/workspaces/{workspace_id}/git/switch",
    summary="Switch the live files to another branch",
    openapi_extra=CONFIRM_RESPONSE,
)
def git_switch(request, workspace_id: int, payload: BranchIn):
    """Replaces the live documents' text with the branch's, for everyone (one CRDT edit per file, stored for the
    caller); refused while files differ from the last commit, and (409, naming them) while others are in the
    workspace unless `confirm`. The answer's `switch` id undoes it (`…/git/switch/undo`)."""
    guard.api_role(request, workspace_id, Role.EDITOR)
    return _switching(workspace_id, branches.switch, request.user, workspace_id, payload.name, confirm=payload.confirm)


@router.post(
    "/workspaces/{workspace_id}/git/switch/undo",
    summary="Undo the latest branch switch: back to the branch and the live texts from before it",
    openapi_extra=CONFIRM_RESPONSE,
)
def git_undo_switch(request, workspace_id: int, payload: UndoSwitchIn):
    """Refused when it is not the latest switch or the workspace moved on since (a commit, pull or switch), and
    (409, naming them) while others are in the workspace unless `confirm`."""
    guard.api_role(request, workspace_id, Role.EDITOR)
    return _switching(
        workspace_id, branches.undo_switch, request.user, workspace_id, payload.switch_id, confirm=payload.confirm
    )


def _switching(workspace_id: int, func, *args, **kwargs):
    """A switch or its undo; 409 naming who is editing when it needs confirming (before _guard's 400)."""
    needs: list[branches.ConfirmFirst] = []

    def call():
        try:
            return func(*args, **kwargs)
        except branches.ConfirmFirst as exc:
            needs.append(exc)
            return None

    result = _guard(call)
    if needs:
        return JsonResponse({"detail": str(needs[0]), "editing": needs[0].editing}, status=409)
    _changed(workspace_id)
    return result
