"""The dashboard's share of the Spark loop: completions per model (acceptance rate, latency) and the history thread
that a Spark region and the Deep job it was handed over to share."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.helpers import make_user
from tests.support.history_data import make_job, make_spark
from workspace.projects.services import create_workspace
from workspace.spark.models import Completion

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def completion(workspace, user, model: str, outcome: str, latency: float | None, server: float | None = 2.0):
    return Completion.objects.create(
        workspace=workspace,
        user=user,
        key=f"k{Completion.objects.count()}",
        model=model,
        outcome=outcome,
        latency_ms=latency,
        server_ms=server,
    )


def test_the_stats_give_acceptance_rate_and_latency_of_completions_per_model(user):
    workspace = create_workspace(user, "W")
    for outcome, latency in (("accepted", 40.0), ("partial", 60.0), ("dismissed", 80.0), ("shown", 100.0)):
        completion(workspace, user, "fast", outcome, latency)
    completion(workspace, user, "fast", "cancelled", None)
    completion(workspace, user, "other", "dismissed", 300.0)
    elsewhere = create_workspace(make_user("carol"), "Not mine")
    completion(elsewhere, user, "fast", "accepted", 1.0)
    client = Client()
    client.force_login(user)
    stats = client.get(f"/api/history/workspaces/{workspace.id}/stats").json()["completions"]
    fast, other = stats
    assert (fast["model"], fast["requests"], fast["shown"], fast["accepted"]) == ("fast", 5, 4, 2)
    assert fast["acceptance_rate"] == 0.5 and (fast["latency_p50"], fast["latency_p99"]) == (60.0, 100.0)
    assert fast["server_p50"] == 2.0
    assert (other["model"], other["acceptance_rate"], other["latency_p50"]) == ("other", 0.0, 300.0)
    # A filter that only Deep jobs can match leaves completions out.
    assert client.get(f"/api/history/workspaces/{workspace.id}/stats?mode=deep").json()["completions"] == []


def test_a_spark_thread_and_the_job_it_was_handed_over_to_share_one_history_thread(user):
    workspace = create_workspace(user, "W")
    first = make_spark(workspace, user, instruction="add steps")
    second = make_spark(workspace, user, instruction="simpler", parent=first, thread=first)
    job = make_job(workspace, user, prompt="Task (handed over from Spark mode): simpler", status="queued")
    for row in (first, second):
        row.handover_job_id = job.id
        row.save(update_fields=["handover_job_id"])
    client = Client()
    client.force_login(user)
    spark = client.get(f"/api/history/spark/{second.id}").json()
    assert [(s["kind"], s["id"]) for s in spark["thread"]] == [
        ("spark", first.id),
        ("spark", second.id),
        ("job", job.id),
    ]
    assert [s["instruction"] for s in spark["thread"][:2]] == ["add steps", "simpler"]
    deep = client.get(f"/api/history/jobs/{job.id}").json()
    assert [(s["kind"], s["id"]) for s in deep["thread"]] == [
        ("spark", first.id),
        ("spark", second.id),
        ("job", job.id),
    ]
    page = client.get(f"/history/jobs/{job.id}/").content.decode()
    assert 'data-testid="detail-thread"' in page and f"/history/spark/{first.id}/" in page
