"""Changes made anywhere (views, services, the admin, cascades) that open documents must learn of at once:
a deleted file's rooms close in every process (instead of failing their clients' next writes), and a changed or
removed membership is re-checked on every process's document sockets."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from workspace.collab.publish import announce_access_change, close_rooms_of_deleted_file
from workspace.projects.models import FileNode, Membership


@receiver(post_delete, sender=FileNode, dispatch_uid="collab-close-rooms-of-deleted-files")
def close_rooms_after_delete(sender, instance: FileNode, **kwargs) -> None:
    if not instance.is_folder:
        transaction.on_commit(partial(close_rooms_of_deleted_file, instance.id))


@receiver(post_save, sender=Membership, dispatch_uid="collab-recheck-access-on-membership-save")
@receiver(post_delete, sender=Membership, dispatch_uid="collab-recheck-access-on-membership-delete")
def recheck_access_after_membership_change(sender, instance: Membership, created: bool = False, **kwargs) -> None:
    if not created:  # a new membership only grants access, which sockets read when they connect
        transaction.on_commit(partial(announce_access_change, instance.workspace_id))
