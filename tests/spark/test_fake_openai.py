"""The fake OpenAI-compatible server speaks the real protocol: checked with the official openai SDK."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from tests.support.fake_openai import DEFAULT_TEXT, FakeModelServer, FakeResponse, split_tokens

pytestmark = pytest.mark.embedded


@pytest.fixture
def server():
    with FakeModelServer(tokens_per_second=5000, model="fake-model", api_key="sk-test") as fake:
        yield fake


def client_for(server: FakeModelServer, **kwargs) -> AsyncOpenAI:
    options = {"api_key": "sk-test", "max_retries": 0, "timeout": 5.0} | kwargs
    return AsyncOpenAI(base_url=server.base_url, **options)


async def collect(stream) -> tuple[str, list]:
    text, chunks = "", []
    async for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    return text, chunks


def test_split_tokens_round_trips_text():
    assert "".join(split_tokens(DEFAULT_TEXT)) == DEFAULT_TEXT
    assert split_tokens("a = b(1)\n") == ["a", " ", "=", " ", "b", "(", "1", ")", "\n"]


async def test_streams_scripted_content_with_usage_in_last_chunk(server):
    server.script(FakeResponse(content="x = 1\nprint(x)\n"))
    async with client_for(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "write code"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks = await collect(stream)
    assert text == "x = 1\nprint(x)\n"
    assert chunks[-1].usage.completion_tokens == len(split_tokens(text))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert server.requests[0]["messages"][0]["content"] == "write code"
    assert [token for token, _ in server.emitted] == split_tokens(text)


async def test_default_text_when_nothing_is_scripted(server):
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        text, _ = await collect(stream)
    assert text == DEFAULT_TEXT


async def test_non_streaming_completion_and_model_list(server):
    server.script(FakeResponse(content="hello"))
    async with client_for(server) as client:
        completion = await client.chat.completions.create(model="fake-model", messages=[])
        models = await client.models.list()
    assert completion.choices[0].message.content == "hello"
    assert completion.usage.completion_tokens == 1
    assert [m.id for m in models.data] == ["fake-model"]


async def test_tool_calls_stream_as_deltas_with_finish_reason(server):
    server.script(FakeResponse(tool_calls=[{"name": "read_file", "arguments": {"path": "src/main.py"}}]))
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        _, chunks = await collect(stream)
    name, arguments = "", ""
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or []:
            name += call.function.name or ""
            arguments += call.function.arguments or ""
    assert name == "read_file"
    assert json.loads(arguments) == {"path": "src/main.py"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_tool_calls_in_non_streaming_completion(server):
    server.script(FakeResponse(tool_calls=[{"name": "run", "arguments": {"cmd": "ls"}}]))
    async with client_for(server) as client:
        completion = await client.chat.completions.create(model="fake-model", messages=[])
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("run", {"cmd": "ls"})
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_wrong_key_is_401_and_unknown_model_is_404(server):
    async with client_for(server, api_key="wrong") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="fake-model", messages=[], stream=True)
    async with client_for(server) as client:
        with pytest.raises(openai.NotFoundError) as info:
            await client.chat.completions.create(model="nope", messages=[], stream=True)
    assert "nope" in str(info.value)


@pytest.mark.parametrize(("kind", "error"), [("429", openai.RateLimitError), ("500", openai.InternalServerError)])
async def test_http_faults_happen_once_then_sdk_retry_succeeds(server, kind, error):
    server.fault(kind)
    async with client_for(server) as client:
        with pytest.raises(error):
            await client.chat.completions.create(model="fake-model", messages=[], stream=True)
    server.fault(kind)
    async with client_for(server, max_retries=1) as client:
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        text, _ = await collect(stream)
    assert text == DEFAULT_TEXT


async def test_drop_mid_stream_raises_after_some_tokens(server):
    server.fault("drop", after_tokens=3)
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        received = []
        with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)):
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert received == split_tokens(DEFAULT_TEXT)[:3]


async def test_malformed_chunk_raises_json_error(server):
    server.fault("malformed", after_tokens=2)
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        with pytest.raises(json.JSONDecodeError):
            await collect(stream)


async def test_stall_trips_the_client_read_timeout(server):
    server.fault("stall", after_tokens=1)
    async with client_for(server, timeout=httpx.Timeout(0.3)) as client:
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        with pytest.raises((httpx.ReadTimeout, openai.APITimeoutError)):
            await collect(stream)


async def test_paces_tokens_at_the_configured_rate(server):
    tokens = [f"t{i} " for i in range(200)]
    server.script(FakeResponse(tokens=tokens, tokens_per_second=1000))
    async with client_for(server) as client:
        started = time.perf_counter()
        stream = await client.chat.completions.create(model="fake-model", messages=[], stream=True)
        text, _ = await collect(stream)
        elapsed = time.perf_counter() - started
    assert text == "".join(tokens)
    assert 0.18 <= elapsed < 1.5
    first, last = server.emitted[0][1], server.emitted[-1][1]
    assert 0.18 <= (last - first) / 1e9 < 1.0


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        FakeModelServer().fault("teapot")
