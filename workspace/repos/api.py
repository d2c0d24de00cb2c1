"""Repositories over HTTP: start an import (archive upload or git clone), follow it, export a zip, download and
preview stored files. Editors import; viewers follow imports, export and download."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import ValidationError

from tasks.repos import enqueue
from workspace.projects import guard
from workspace.projects.models import Role, Workspace
from workspace.projects.services import FileTreeError
from workspace.repos import blobs, events, export, importer
from workspace.repos.git import GitError
from workspace.repos.models import ImportJob

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
