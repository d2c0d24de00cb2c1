"""Checkpoints and deleted files over the JSON API: a thin edge over `collab.checkpoints` and `collab.tombstones`.

Roles: viewers list and look; editors create checkpoints and restore (a checkpoint, one of its files, a deleted
file); deleting a checkpoint is the owner's, and only for manual ones (automatic ones are the undo of what
happened, and go with retention, `CHECKPOINT_KEEP_DAYS`).
"""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from workspace.collab import checkpoints, tombstones
from workspace.collab.models import Checkpoint, CheckpointKind, DeletedFile
from workspace.projects import guard
from workspace.projects.models import Role
from workspace.projects.services import FileTreeError

router = Router(tags=["checkpoints"])
PREFIX = ""
CHECKPOINT_NOT_FOUND = "checkpoint not found"
DELETED_NOT_FOUND = "deleted file not found"


class CheckpointIn(Schema):
    name: str


class RestoreIn(Schema):
    # One file of the checkpoint; None: the whole workspace.
    path: str | None = None
    # Whole-workspace restores: delete (restorably) the files created since, instead of listing them.
    remove_created: bool = False


class RestoreDeletedIn(Schema):
    # Where to recreate it; None: at its old path (refused when that is taken now).
    path: str | None = None


def _checkpoint(request, checkpoint_id: int, minimum: str) -> Checkpoint:
    found = Checkpoint.objects.select_related("created_by", "workspace").filter(id=checkpoint_id).first()
    return guard.api_record(request, found, minimum, missing=CHECKPOINT_NOT_FOUND)


@router.get("/workspaces/{workspace_id}/checkpoints")
def list_checkpoints(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return checkpoints.listing(workspace_id)


@router.post("/workspaces/{workspace_id}/checkpoints")
def create_checkpoint(request, workspace_id: int, payload: CheckpointIn):
    guard.api_role(request, workspace_id, Role.EDITOR)
    try:
        made = checkpoints.create(workspace_id, CheckpointKind.MANUAL, name=payload.name, user_id=request.user.id)
    except checkpoints.CheckpointError as exc:
        raise HttpError(400, str(exc)) from exc
    made.created_by = request.user
    return checkpoints.summary(made)


@router.get("/checkpoints/{checkpoint_id}")
def checkpoint_files(request, checkpoint_id: int):
    return checkpoints.files(_checkpoint(request, checkpoint_id, Role.VIEWER))


@router.delete("/checkpoints/{checkpoint_id}")
def delete_checkpoint(request, checkpoint_id: int):
    checkpoint = _checkpoint(request, checkpoint_id, Role.OWNER)
    if checkpoint.kind != CheckpointKind.MANUAL:
        raise HttpError(400, "Automatic checkpoints are kept for the retention period, then go by themselves.")
    checkpoints.delete(checkpoint)
    return {"deleted": checkpoint_id}


@router.post("/checkpoints/{checkpoint_id}/restore")
def restore_checkpoint(request, checkpoint_id: int, payload: RestoreIn):
    checkpoint = _checkpoint(request, checkpoint_id, Role.EDITOR)
    try:
        return checkpoints.restore(
            checkpoint, request.user.id, path=payload.path, remove_created=payload.remove_created
        )
    except checkpoints.CheckpointError as exc:
        raise HttpError(400, str(exc)) from exc


@router.get("/workspaces/{workspace_id}/deleted-files")
def list_deleted_files(request, workspace_id: int):
    guard.api_role(request, workspace_id, Role.VIEWER)
    return tombstones.listing(workspace_id)


@router.post("/deleted-files/{deleted_id}/restore")
def restore_deleted_file(request, deleted_id: int, payload: RestoreDeletedIn):
    found = DeletedFile.objects.select_related("workspace").filter(id=deleted_id).first()
    tombstone = guard.api_record(request, found, Role.EDITOR, missing=DELETED_NOT_FOUND)
    try:
        node = tombstones.restore(tombstone, request.user.id, payload.path)
    except FileTreeError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"id": node.id, "path": node.path, "kind": node.kind}
