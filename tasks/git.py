"""Git push / pull tasks (`repos.git`, argument: the operation's id; idempotent, see workspace.repos.sync.run)."""

from __future__ import annotations

from celery import shared_task

from workspace.repos import sync


@shared_task(name="repos.git", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_git_operation(operation_id: int) -> str:
    return sync.run(operation_id)


def enqueue(operation_id: int) -> None:
    run_git_operation.delay(operation_id)
