"""The embedded web process (`make run`) starts a queued Deep job at once, not after a broker poll.

A real `python -m workspace.serve` in the embedded mode (its own SQLite file, in-memory layer and broker,
the Celery worker thread inside it), driven over the workspace channel like a browser. The bound is
generous for a shared machine; kombu's stock memory transport polls every second.
"""

from __future__ import annotations

import pytest

from tests.support.embedded_server import at, embedded_server

pytestmark = pytest.mark.embedded

START_BOUND = 0.3  # seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("embedded"), JOB_TESTS_COMMAND="true") as running:
        yield running


def test_each_of_20_jobs_queued_one_at_a_time_starts_within_300_ms(server):
    waits = []
    with server.workspace_socket() as client:
        for _ in range(20):
            summary, _ = client.wait_finished(client.create_job())
            assert summary["status"] == "succeeded", summary
            waits.append((at(summary, "started_at") - at(summary, "created_at")).total_seconds())
    assert max(waits) < START_BOUND, [round(wait * 1000) for wait in waits]


def test_a_job_queued_behind_running_ones_starts_within_300_ms_of_a_thread_coming_free(server):
    # Two worker threads, acks_late, prefetch 1 per thread: job k is delivered only once job k-2 is acked.
    with server.workspace_socket() as client:
        jobs = [client.create_job() for _ in range(8)]
        summaries = [client.wait_finished(job_id)[0] for job_id in jobs]
    assert all(s["status"] == "succeeded" and s["attempts"] == 1 for s in summaries), summaries
    by_start = sorted(summaries, key=lambda s: at(s, "started_at"))
    finishes = sorted(at(s, "finished_at") for s in summaries)
    waits = []
    for rank, summary in enumerate(by_start[2:]):
        # A thread came free when the rank-th job finished; the job could not start before it was queued.
        freed, started = finishes[rank], at(summary, "started_at")
        assert started >= freed, (summary, freed)  # never a third job at once on two threads
        waits.append((started - max(freed, at(summary, "created_at"))).total_seconds())
    assert max(waits) < START_BOUND, [round(wait * 1000) for wait in waits]
