"""Git push / pull tasks (`repos.git`, argument: the operation's id; idempotent, see workspace.repos.sync.run), and
the reaper of operations whose worker died (there is no beat schedule: at worker start, then periodically on a
thread of every worker, as for imports and jobs; `sync.start` also reaps a workspace's before queueing another)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from workspace.repos import sync

logger = logging.getLogger(__name__)


@shared_task(name="repos.git", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_git_operation(operation_id: int) -> str:
    return sync.run(operation_id)


def enqueue(operation_id: int) -> None:
    run_git_operation.delay(operation_id)


_reaper_stop = threading.Event()


def reap_interval() -> float:
    """How often a worker looks for stuck operations: a quarter of their timeout, between 5 s and 5 min."""
    return min(max(settings.GIT_OPERATION_TIMEOUT_SECONDS / 4, 5.0), 300.0)


def _reap_quietly() -> None:
    from django.db import close_old_connections

    try:
        close_old_connections()
        sync.reap_stuck_operations()
    except Exception:  # noqa: BLE001 - the reaper must keep running
        logger.exception("git operation reaper failed")


def _reap_periodically() -> None:
    while not _reaper_stop.wait(reap_interval()):
        _reap_quietly()


@worker_ready.connect
def _reap_at_worker_start(**_: object) -> None:
    _reap_quietly()
    threading.Thread(target=_reap_periodically, name="git-operation-reaper", daemon=True).start()


@worker_shutdown.connect
def _stop_reaper(**_: object) -> None:
    _reaper_stop.set()
