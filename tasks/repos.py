"""Import tasks: run an import (`repos.import`, argument: the import's id; idempotent, see
workspace.repos.importer.claim), and find imports whose worker died (at worker start and periodically)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from tasks import housekeeping
from workspace.repos import importer

logger = logging.getLogger(__name__)


@shared_task(name="repos.import", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_import(import_id: int) -> str:
    return importer.run_import(import_id)


def enqueue(import_id: int) -> None:
    run_import.delay(import_id)


@housekeeping.every("import-reaper", lambda: settings.REPOS_IMPORT_STALE_SECONDS / 2)
def reap_stale_imports() -> None:
    for import_id, outcome in importer.reap_stale_imports(requeue=enqueue):
        logger.warning("stale import %s: %s", import_id, outcome)
