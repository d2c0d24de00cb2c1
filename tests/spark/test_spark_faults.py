"""Every model failure gives a clear error, a failed record and a consistent document (real fake server)."""
# ruff: noqa: F811 - pytest fixtures imported from test_spark_stream are parameters here

from __future__ import annotations

import pytest

from tests.spark.test_spark_stream import ORIGINAL, fake_model, record, room  # noqa: F401 - fixtures
from tests.support.fake_openai import DEFAULT_TEXT, split_tokens

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]


async def run_failing(room, **message) -> tuple[dict, object]:
    request_id = await room.ask(mode="insert", instruction="write", selection={"start": 0}, **message)
    finished = await room.finished(request_id, timeout=15)
    return finished, await record(request_id)


async def assert_consistent(room, row, original: str = ORIGINAL) -> None:
    """Clients, the stored document and the record agree: exactly the streamed tokens, nothing else."""
    expected = row.inserted_text + original
    await room.both_show(expected)
    assert await room.stored_text() == expected


@pytest.mark.parametrize(
    ("kind", "after", "message", "streamed"),
    [
        ("drop", 3, "dropped mid-stream after 3 tokens", 3),
        ("malformed", 4, "malformed stream chunk after 4 tokens", 4),
        ("stall", 2, "stopped responding within 0.5 s (after 2 tokens); timed out", 2),
    ],
)
async def test_mid_stream_fault_fails_clearly_and_keeps_exactly_the_streamed_text_pending(
    room,
    fake_model,
    settings,
    kind,
    after,
    message,
    streamed,
):
    settings.SPARK_TIMEOUT = 0.5
    fake_model.fault(kind, after_tokens=after)
    finished, row = await run_failing(room)
    assert finished["type"] == "spark.failed" and finished["pending"] is True
    assert message in finished["error"]
    assert row.status == "failed" and row.error == finished["error"]
    assert row.inserted_text == "".join(split_tokens(DEFAULT_TEXT)[:streamed])
    assert len(fake_model.requests) == 1, "a stream that already produced tokens must not be retried"
    await assert_consistent(room, row)
    reply = await room.channel.request({"type": "spark.reject", "id": row.id})
    assert reply["status"] == "rejected"
    await room.both_show(ORIGINAL)
    assert await room.stored_text() == ORIGINAL


@pytest.mark.parametrize(("kind", "message"), [("429", "rate limiting requests (429)"), ("500", "HTTP 500")])
async def test_rate_limit_and_server_errors_are_retried_then_reported(room, fake_model, kind, message):
    fake_model.fault(kind, times=1)
    finished, row = await run_failing(room)
    assert finished["type"] == "spark.done" and row.retries == 1
    await room.both_show(DEFAULT_TEXT + ORIGINAL)

    fake_model.fault(kind, times=10)
    finished, row = await run_failing(room)
    assert finished["type"] == "spark.failed" and finished["pending"] is False
    assert message in row.error and row.status == "failed" and row.retries == 2
    await assert_consistent(room, row, DEFAULT_TEXT + ORIGINAL)
    assert row.inserted_text == ""


async def test_stall_before_first_token_times_out_without_touching_the_doc(room, fake_model, settings):
    settings.SPARK_TIMEOUT = 0.5
    settings.SPARK_MAX_RETRIES = 0
    fake_model.fault("stall", after_tokens=0)
    finished, row = await run_failing(room)
    assert "within 0.5 s (before the first token); timed out" in finished["error"]
    assert row.status == "failed" and row.ttft_ms is None and row.inserted_text == ""
    await assert_consistent(room, row)


async def test_bad_api_key_says_so(room, fake_model, settings):
    settings.SPARK_API_KEY = "sk-wrong"
    finished, row = await run_failing(room)
    assert "rejected the API key (401). Check SPARK_API_KEY." in finished["error"]
    assert row.status == "failed" and row.retries == 0
    await assert_consistent(room, row)


async def test_unknown_model_says_so(room, fake_model, settings):
    settings.SPARK_MODEL = "no-such-model"
    finished, row = await run_failing(room)
    assert "Model 'no-such-model' was not found" in finished["error"] and "SPARK_MODEL" in finished["error"]
    await assert_consistent(room, row)


async def test_unreachable_provider_says_it_could_not_connect(room, fake_model, settings):
    settings.SPARK_BASE_URL = "http://127.0.0.1:9/v1"
    settings.SPARK_MAX_RETRIES = 1
    finished, row = await run_failing(room)
    assert "Could not connect to the model provider at http://127.0.0.1:9/v1" in finished["error"]
    assert row.status == "failed" and row.retries == 1
    await assert_consistent(room, row)
