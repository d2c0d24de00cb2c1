"""Periodic chores of every worker, without a beat schedule: reapers of work whose worker died, retention.

A task module registers a chore with `every(name, interval)`; when a worker is ready each chore runs once, then
every `interval()` seconds on a daemon thread of its own, until the worker shuts down. A chore's failure is
logged and it runs again next time (a chore must keep running). Each chore is idempotent and safe to run in
several workers at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from celery.signals import worker_ready, worker_shutdown

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chore:
    name: str
    run: Callable[[], None]
    interval: Callable[[], float]


_chores: dict[str, Chore] = {}
_stop = threading.Event()


def every(name: str, interval: Callable[[], float]) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the decorated function as the chore `name`, run every `interval()` seconds in every worker."""

    def register(run: Callable[[], None]) -> Callable[[], None]:
        _chores[name] = Chore(name, run, interval)
        return run

    return register


def run_quietly(chore: Chore) -> None:
    """Run a chore once on fresh database connections; its failure is logged, never raised."""
    from django.db import close_old_connections

    try:
        close_old_connections()
        chore.run()
    except Exception:  # noqa: BLE001 - the chore must keep running
        logger.exception("%s failed", chore.name)


def _repeat(chore: Chore) -> None:
    while not _stop.wait(chore.interval()):
        run_quietly(chore)


@worker_ready.connect
def _start_chores(**_: object) -> None:
    for chore in list(_chores.values()):
        run_quietly(chore)
        threading.Thread(target=_repeat, args=(chore,), name=chore.name, daemon=True).start()


@worker_shutdown.connect
def _stop_chores(**_: object) -> None:
    _stop.set()
