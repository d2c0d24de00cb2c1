"""Spark building blocks: fence stripping, positions, provider resolution, the settings page and the API."""

from __future__ import annotations

import pytest
from django.test import Client
from pycrdt import Assoc, Doc, Text

from tests.support.fake_openai import FakeModelServer
from tests.support.helpers import make_user
from workspace import llm
from workspace.spark.models import SparkRequest
from workspace.spark.positions import byte_to_utf16, from_relative_position, relative_position, sticky_at, utf16_to_byte
from workspace.spark.prompts import EditContext, FenceStripper, build_messages, strip_fences

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("```python\nx = 1\n```\nExplanation.", "x = 1\n"),
        ("x = 1\n", "x = 1\n"),
        ("```\na\n\n  b\n```", "a\n\n  b\n"),
        ("s = '```'\n", "s = '```'\n"),
    ],
)
def test_strip_fences(answer, code):
    assert strip_fences(answer) == code


def test_fence_stripper_releases_text_as_soon_as_it_cannot_be_a_fence():
    stripper = FenceStripper()
    assert stripper.feed("``") == ""  # might become a fence
    assert stripper.feed("`py\n") == ""  # it was: dropped
    assert stripper.feed("def") == "def"  # released at once
    assert stripper.feed(" f():\n    ") == " f():\n"  # indentation held until the line shows what it is
    assert stripper.feed("return 1\n```\nbye") == "    return 1\n"
    assert stripper.finish() == ""


def test_prompt_marks_cursor_or_selection_with_language_and_nearby_code():
    text = "a = 1\nb = 2\nc = 3\n"
    insert = build_messages(EditContext("m.py", "python", text, 6, 6, "insert"), "add")
    assert "a = 1\n<cursor/>b = 2" in insert[1]["content"] and "language: python" in insert[1]["content"]
    assert "a = 1\n<<HERE>>b = 2" in insert[1]["content"] and "Instruction: add" in insert[1]["content"]
    replace = build_messages(EditContext("m.py", "python", text, 6, 11, "replace"), "fix")
    assert "<selection>b = 2</selection>" in replace[1]["content"]


def test_positions_convert_utf16_offsets_and_round_trip_relative_positions():
    content = "é😀x"
    assert [utf16_to_byte(content, i) for i in (0, 1, 3, 4, 99)] == [0, 2, 6, 7, 7]
    assert byte_to_utf16(content, 6) == 3
    doc = Doc()
    text = doc.get("content", type=Text)
    text.insert(0, "hello")
    for index, assoc in [(0, Assoc.BEFORE), (0, Assoc.AFTER), (3, Assoc.BEFORE), (5, Assoc.AFTER)]:
        relative = relative_position(sticky_at(text, index, assoc))
        assert set(relative) == {"type", "tname", "item", "assoc"}
        assert from_relative_position(text, relative).get_index() == index
    with pytest.raises(ValueError):
        from_relative_position(text, {"item": {"client": "x"}, "assoc": 0})


def test_provider_from_settings(settings):
    settings.SPARK_BASE_URL = "https://api.example.com/v1/"
    settings.SPARK_MODEL = "m"
    settings.SPARK_API_KEY = "k"
    config = llm.resolve("spark")
    assert (config.base_url, config.model, config.source, config.configured) == (
        "https://api.example.com/v1",
        "m",
        "env",
        True,
    )
    assert config.public()["api_key_set"] is True and "k" not in config.public().values()


def test_provider_falls_back_to_a_local_ollama_then_explains_how_to_configure(settings):
    settings.DEEP_BASE_URL = ""
    settings.DEEP_MODEL = ""
    with FakeModelServer(model="qwen2.5-coder") as ollama:
        settings.OLLAMA_FALLBACK_URL = ollama.base_url
        llm._ollama_cache.clear()
        config = llm.resolve("deep")
        assert (config.source, config.model, config.base_url) == ("ollama", "qwen2.5-coder", ollama.base_url)
    settings.OLLAMA_FALLBACK_URL = "http://127.0.0.1:9/v1"
    config = llm.resolve("deep")
    assert not config.configured and config.source == "none"
    with pytest.raises(llm.ProviderNotConfigured, match="DEEP_BASE_URL"):
        config.async_client()


@pytest.mark.django_db
def test_settings_page_shows_each_mode_and_how_to_configure(settings):
    settings.SPARK_BASE_URL, settings.SPARK_MODEL, settings.SPARK_API_KEY = "http://llm.local/v1", "fast", "secret-key"
    settings.DEEP_BASE_URL, settings.OLLAMA_FALLBACK_URL = "", "http://127.0.0.1:9/v1"
    client = Client()
    client.force_login(make_user("alice"))
    html = client.get("/spark/settings/").content.decode()
    assert 'data-testid="provider-spark" data-configured="true"' in html and "http://llm.local/v1" in html
    assert "secret-key" not in html and "set (hidden)" in html
    assert 'data-testid="provider-deep" data-configured="false"' in html and "DEEP_BASE_URL" in html


@pytest.mark.django_db
def test_api_lists_requests_of_member_workspaces_only(workspace_with_file, user):
    workspace, node = workspace_with_file
    row = SparkRequest.objects.create(workspace=workspace, file=node, user=user, mode="insert", model="m", prompt="p")
    client = Client()
    client.force_login(user)
    listed = client.get(f"/api/spark/requests?workspace_id={workspace.id}").json()
    assert [r["id"] for r in listed] == [row.id] and listed[0]["status"] == "streaming"
    assert client.get(f"/api/spark/requests/{row.id}").json()["prompt"] == "p"
    stranger = Client()
    stranger.force_login(make_user("eve"))
    assert stranger.get(f"/api/spark/requests/{row.id}").status_code == 404
    assert stranger.get(f"/api/spark/requests?workspace_id={workspace.id}").status_code == 404
