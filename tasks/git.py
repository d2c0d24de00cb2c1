"""Git push / pull tasks (`repos.git`, argument: the operation's id; idempotent, see workspace.repos.sync.run), and
the reaper of operations whose worker died (a worker chore, `tasks.housekeeping`, as for imports and jobs;
`sync.start` also reaps a workspace's before queueing another)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from tasks import housekeeping
from workspace.repos import sync


@shared_task(name="repos.git", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_git_operation(operation_id: int) -> str:
    return sync.run(operation_id)


def enqueue(operation_id: int) -> None:
    run_git_operation.delay(operation_id)


def reap_interval() -> float:
    """How often a worker looks for stuck operations: a quarter of their timeout, between 5 s and 5 min."""
    return min(max(settings.GIT_OPERATION_TIMEOUT_SECONDS / 4, 5.0), 300.0)


@housekeeping.every("git-operation-reaper", reap_interval)
def reap_stuck_operations() -> None:
    sync.reap_stuck_operations()
