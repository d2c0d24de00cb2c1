"""Property: random concurrent edits by several people and an AI writer, at random pauses, with compactions at
random moments: every version in the file's timeline reproduces exactly the text the document had as of that
version's last update, and the newest is the live text."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from tests.support.helpers import make_user
from workspace.collab import store
from workspace.collab.attribution import HUMAN, SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.models import DocUpdate
from workspace.collab.ydoc import TEXT_NAME
from workspace.projects.services import create_workspace
from workspace.timeline import history

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

_numbers = itertools.count()
edit = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 500), st.sampled_from(["x", "ab\n", "\n", "é€"])),
    st.tuples(st.just("delete"), st.integers(0, 500), st.integers(1, 6)),
    st.tuples(st.just("sync"), st.just(0), st.just("")),
)
pause = st.sampled_from([1, 5, 30, 400])  # seconds before the step; 400 is past the session gap
step = st.one_of(st.tuples(st.integers(0, 3), edit, pause), st.just(("compact",)))


@pytest.fixture
def people(db):
    return [make_user(f"person{number}") for number in range(3)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=40))
def test_every_version_in_the_timeline_is_the_text_as_of_its_last_update(people, steps):
    workspace = create_workspace(people[0], f"Versions {next(_numbers)}")
    node = create_file_with_text(workspace, "main.py", "start\n")
    clock = timezone.now() - timedelta(hours=6)
    DocUpdate.objects.filter(file_id=node.id).update(created_at=clock)
    authors = [Author(person.id, HUMAN) for person in people] + [Author(people[0].id, SPARK, "tiny", "7")]
    replicas = [Doc() for _ in authors]
    expected = {DocUpdate.objects.get(file_id=node.id).id: "start\n"}

    def sync(replica: Doc) -> None:
        for update in store.load_updates(node.id)[0]:
            replica.apply_update(update)

    for replica in replicas:
        replica.get(TEXT_NAME, type=Text)
        sync(replica)
    for item in steps:
        if item == ("compact",):
            store.compact(node.id)
            continue
        writer, (kind, position, value), seconds = item
        replica = replicas[writer]
        text = replica.get(TEXT_NAME, type=Text)
        if kind == "sync":
            sync(replica)
            continue
        before = replica.get_state()
        if kind == "insert":
            text.insert(len(str(text)[: position % (len(str(text)) + 1)].encode("utf-8")), value)
        elif len(str(text)):
            content = str(text)
            start = position % len(content)
            removed = content[start : start + value]
            offset = len(content[:start].encode("utf-8"))
            del text[offset : offset + len(removed.encode("utf-8"))]
        update = replica.get_update(before)
        if update == b"\x00\x00":
            continue
        clock += timedelta(seconds=seconds)
        update_id = store.append_update(node.id, update, authors[writer])
        DocUpdate.objects.filter(id=update_id).update(created_at=clock)
        expected[update_id] = store.load_text(node.id)

    timeline = history.timeline(node)
    assert timeline.versions, "the file's creation at least is a version"
    for version in timeline.versions:
        assert history.version_text(node, version.id) == expected[version.id]
    assert history.version_text(node, timeline.versions[0].id) == store.load_text(node.id)
    ends = [version.ended_at for version in timeline.versions]
    assert ends == sorted(ends, reverse=True)
