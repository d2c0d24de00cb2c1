"""Retention applied on a schedule (collab.retention, the workers' `history-retention` chore): versions of a file
nobody edits again are thinned, and old automatic checkpoints and deleted files of a workspace that takes no more
checkpoints are pruned, by the same rules compaction and new checkpoints apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks import housekeeping
from tests.support.file_history import append, time_all
from tests.support.helpers import make_user
from workspace.collab import checkpoints, retention, store, tombstones, versions
from workspace.collab.attribution import HUMAN, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.models import Checkpoint, DeletedFile, DocVersion
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_the_chore_thins_versions_of_a_file_nobody_edits_again_and_prunes_untouched_workspaces(settings):
    settings.HISTORY_KEEP_ALL_DAYS, settings.HISTORY_KEEP_HOURLY_DAYS, settings.CHECKPOINT_KEEP_DAYS = 7, 30, 30
    alice = make_user("alice")
    workspace = create_workspace(alice, "Quiet", readme=False)
    node = create_file_with_text(workspace, "main.py", "# start\n")
    spare = create_file_with_text(workspace, "spare.py", "spare\n")
    now = timezone.now()
    recent = (now - timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    time_all(node.id, recent - timedelta(days=5))
    for hour in (1, 2, 3):  # three sessions on one day, an hour apart: all kept while recent
        append(node.id, Author(alice.id, HUMAN), f"line {hour}\n", recent + timedelta(hours=hour))
    store.compact(node.id)
    assert DocVersion.objects.filter(file_id=node.id).count() == 4
    old_checkpoint = checkpoints.auto(workspace.id, "long ago")
    tombstones.delete_file(spare, alice.id)
    Checkpoint.objects.filter(id=old_checkpoint.id).update(created_at=now - timedelta(days=31))
    DeletedFile.objects.update(deleted_at=now - timedelta(days=31))

    # Forty days on, with nobody editing the file or taking a checkpoint: the chore does what nothing else would.
    later = now + timedelta(days=40)
    assert retention.apply(later) == {"versions": 2, "checkpoints": 2}
    kept = versions.stored_versions(node.id)
    assert [versions.decompress(v.text).splitlines()[-1] for v in kept] == ["# start", "line 3"]
    assert not Checkpoint.objects.exists() and not DeletedFile.objects.exists()
    assert retention.apply(later) == {"versions": 0, "checkpoints": 0}  # idempotent
    assert store.load_text(node.id) == "# start\nline 1\nline 2\nline 3\n"


def test_every_worker_chore_is_registered_with_an_interval():
    import tasks.collab  # noqa: F401 - registers its chore, as the worker imports it
    import tasks.deep  # noqa: F401
    import tasks.git  # noqa: F401
    import tasks.repos  # noqa: F401

    chores = housekeeping._chores
    assert {"history-retention", "job-reaper", "git-operation-reaper", "import-reaper"} <= set(chores)
    assert all(chore.interval() > 0 for chore in chores.values())


def test_a_failing_chore_is_logged_and_not_raised(caplog):
    def broken() -> None:
        raise RuntimeError("disk on fire")

    housekeeping.run_quietly(housekeeping.Chore("broken", broken, lambda: 1.0))
    assert "broken failed" in caplog.text and "disk on fire" in caplog.text
