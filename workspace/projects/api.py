"""File-tree and workspace endpoints."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from workspace.collab import files, store, tombstones
from workspace.collab.tokens import issue_token
from workspace.projects import guard, services
from workspace.projects.models import Role, Workspace

router = Router(tags=["files"])
PREFIX = ""


class FileIn(Schema):
    path: str
    is_folder: bool = False
    content: str = ""


class RenameIn(Schema):
    path: str


class WorkspaceIn(Schema):
    name: str
    # True: no README.md is created (a workspace made to import a project into).
    empty: bool = False


@router.get("/workspaces")
def list_workspaces(request):
    return [
        {"id": m.workspace_id, "name": m.workspace.name, "role": m.role}
        for m in request.user.memberships.select_related("workspace").order_by("workspace__name")
    ]


@router.post("/workspaces")
def create_workspace(request, payload: WorkspaceIn):
    try:
        workspace = services.create_workspace(request.user, payload.name, readme=not payload.empty)
    except services.FileTreeError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"id": workspace.id, "name": workspace.name, "role": Role.OWNER}


@router.get("/workspaces/{workspace_id}/files")
def list_files(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return services.file_tree(workspace_id)


@router.post("/workspaces/{workspace_id}/files")
def create_file(request, workspace_id: int, payload: FileIn):
    guard.api_role(request, workspace_id, Role.EDITOR)
    workspace = Workspace.objects.get(id=workspace_id)
    try:
        node = files.create_file_with_text(workspace, payload.path, payload.content, is_folder=payload.is_folder)
    except services.FileTreeError as exc:
        raise HttpError(400, str(exc)) from exc
    services.notify_tree_changed(workspace_id)
    return {"id": node.id, "path": node.path, "is_folder": node.is_folder, "language": node.language}


@router.patch("/files/{file_id}")
def rename_file(request, file_id: int, payload: RenameIn):
    node = guard.api_file(request, file_id, Role.EDITOR)
    try:
        node = services.rename_file(node, payload.path)
    except services.FileTreeError as exc:
        raise HttpError(400, str(exc)) from exc
    services.notify_tree_changed(node.workspace_id)
    return {"id": node.id, "path": node.path}


@router.delete("/files/{file_id}")
def delete_file(request, file_id: int):
    node = guard.api_file(request, file_id, Role.EDITOR)
    workspace_id = node.workspace_id
    count = tombstones.delete_file(node, request.user.id)  # restorable: see collab.tombstones
    services.notify_tree_changed(workspace_id)
    return {"deleted": count}


@router.get("/files/{file_id}/text")
def file_text(request, file_id: int):
    node = guard.api_file(request, file_id, Role.VIEWER)
    if node.is_folder:
        raise HttpError(400, f"{node.path} is a folder")
    if not node.is_live_text:
        raise HttpError(415, f"{node.path} is a stored {node.kind} file, not a live document: download it instead")
    return {"id": node.id, "path": node.path, "text": store.load_text(node.id)}


@router.post("/files/{file_id}/token")
def room_token(request, file_id: int):
    """A short-lived token for joining the file's y-websocket room from a non-browser client."""
    node = guard.api_file(request, file_id, Role.VIEWER)
    scheme = "wss" if request.is_secure() else "ws"
    return {
        "token": issue_token(request.user.id, node.id),
        "server_url": f"{scheme}://{request.get_host()}/ws/yjs",
        "room": str(node.id),
        "text_name": "content",
    }
