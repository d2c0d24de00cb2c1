"""Import tasks: run an import (`repos.import`, argument: the import's id; idempotent, see
workspace.repos.importer.claim), and find imports whose worker died (at worker start and periodically)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from workspace.repos import importer

logger = logging.getLogger(__name__)


@shared_task(name="repos.import", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_import(import_id: int) -> str:
    return importer.run_import(import_id)


def enqueue(import_id: int) -> None:
    run_import.delay(import_id)


_reaper_stop = threading.Event()


def _reap_quietly() -> None:
    from django.db import close_old_connections

    try:
        close_old_connections()
        for import_id, outcome in importer.reap_stale_imports(requeue=enqueue):
            logger.warning("stale import %s: %s", import_id, outcome)
    except Exception:  # noqa: BLE001 - the reaper must keep running
        logger.exception("import reaper failed")


def _reap_periodically() -> None:
    while not _reaper_stop.wait(settings.REPOS_IMPORT_STALE_SECONDS / 2):
        _reap_quietly()


@worker_ready.connect
def _reap_at_worker_start(**_: object) -> None:
    _reap_quietly()
    threading.Thread(target=_reap_periodically, name="import-reaper", daemon=True).start()


@worker_shutdown.connect
def _stop_reaper(**_: object) -> None:
    _reaper_stop.set()
