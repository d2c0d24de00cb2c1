"""Run a Celery worker thread inside the web process (embedded mode, in-memory broker)."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)
_started = False


def start_embedded_worker(concurrency: int = 2) -> None:
    global _started
    if _started:
        return
    _started = True
    from celery.contrib.testing.worker import start_worker

    from tasks.celery import app

    def run() -> None:
        with start_worker(
            app,
            pool="threads",
            concurrency=concurrency,
            perform_ping_check=False,
            shutdown_timeout=5,
            loglevel="WARNING",
        ):
            threading.Event().wait()

    threading.Thread(target=run, name="celery-embedded", daemon=True).start()
    logger.info("embedded Celery worker started (in-memory broker)")
