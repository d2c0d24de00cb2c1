"""Versions of a file (collab.versions): the text at the end of each editing session, split by pauses and by a
new server-side writer, kept (with who took part) when compaction deletes the update rows, and thinned to the
retention rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.support.file_history import append, time_all
from tests.support.helpers import make_user
from workspace.collab import store, versions
from workspace.collab.attribution import HUMAN, SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.models import DocUpdate, DocVersion
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

# Recent enough that compaction's thinning keeps every version.
T0 = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)


@pytest.fixture
def setup(db):
    alice, bob = make_user("alice"), make_user("bob")
    workspace = create_workspace(alice, "Versions")
    node = create_file_with_text(workspace, "main.py", "# start\n")
    time_all(node.id, T0)
    return node, Author(alice.id, HUMAN), Author(bob.id, HUMAN)


def listed(file_id: int) -> list[tuple[int, str, list]]:
    stored, sessions, _ = versions.log_sessions(file_id)
    rows = [(v.up_to_update_id, versions.decompress(v.text), [tuple(p) for p in v.participants]) for v in stored]
    return rows + [(s.up_to_update_id, s.text, s.participants) for s in sessions]


def test_a_pause_longer_than_the_gap_ends_a_session_and_people_typing_together_share_one(setup):
    node, alice, bob = setup
    append(node.id, alice, "a = 1\n", T0 + timedelta(seconds=30))
    first_end = append(node.id, bob, "b = 2\n", T0 + timedelta(seconds=40))
    second_end = append(node.id, alice, "c = 3\n", T0 + timedelta(seconds=40 + 301))
    result = listed(node.id)
    # The file's creation (a server write) is a version; then Alice and Bob's session; then Alice after a pause.
    assert [text for _, text, _ in result] == ["# start\n", "# start\na = 1\nb = 2\n", "# start\na = 1\nb = 2\nc = 3\n"]
    assert [update_id for update_id, _, _ in result][1:] == [first_end, second_end]
    assert result[1][2] == [alice.row(), bob.row()]


def test_a_spark_request_starts_a_session_of_its_own_and_typing_during_it_joins_it(setup):
    node, alice, _ = setup
    spark = Author(alice.user_id, SPARK, "tiny", "7")
    append(node.id, alice, "x\n", T0 + timedelta(seconds=5))
    append(node.id, spark, "def f():\n", T0 + timedelta(seconds=6))
    append(node.id, alice, "# typing meanwhile\n", T0 + timedelta(seconds=7))
    append(node.id, spark, "    pass\n", T0 + timedelta(seconds=8))
    result = listed(node.id)
    assert result[-2][1] == "# start\nx\n"  # just before the model wrote
    assert result[-1][1].endswith("def f():\n# typing meanwhile\n    pass\n")
    assert result[-1][2] == [spark.row(), alice.row()]


def test_versions_survive_compaction_with_the_same_ids_texts_and_participants(setup):
    node, alice, bob = setup
    append(node.id, alice, "a = 1\n", T0 + timedelta(seconds=30))
    append(node.id, bob, "b = 2\n", T0 + timedelta(minutes=20))
    before = listed(node.id)
    assert store.compact(node.id) > 0
    assert not DocUpdate.objects.filter(file_id=node.id).exists()
    assert listed(node.id) == before
    stored = versions.stored_versions(node.id)
    assert [(v.started_at, v.ended_at) for v in stored][1:] == [
        (T0 + timedelta(seconds=30),) * 2,
        (T0 + timedelta(minutes=20),) * 2,
    ]
    assert [(v.lines_added, v.lines_deleted) for v in stored] == [(1, 0), (1, 0), (1, 0)]


def test_a_session_open_at_compaction_is_continued_by_the_next_rows_in_one_version(setup):
    node, alice, bob = setup
    append(node.id, alice, "a = 1\n", T0 + timedelta(seconds=30))
    store.compact(node.id)
    end = append(node.id, bob, "b = 2\n", T0 + timedelta(seconds=90))
    live = listed(node.id)
    assert [update_id for update_id, _, _ in live][-1] == end
    assert live[-1][2] == [alice.row(), bob.row()]
    store.compact(node.id)
    assert listed(node.id) == live
    assert DocVersion.objects.filter(file_id=node.id).count() == 2
    assert versions.stored_versions(node.id)[-1].started_at == T0 + timedelta(seconds=30)


def test_text_at_an_update_comes_from_the_log_or_from_the_version_ending_there(setup):
    node, alice, _ = setup
    created = DocUpdate.objects.get(file_id=node.id).id
    append(node.id, alice, "a\n", T0 + timedelta(seconds=30))
    middle = append(node.id, alice, "b\n", T0 + timedelta(seconds=31))
    append(node.id, alice, "c\n", T0 + timedelta(seconds=32))
    assert versions.text_at_update(node.id, middle) == "# start\na\nb\n"
    store.compact(node.id)
    assert versions.text_at_update(node.id, middle) is None  # inside a session: folded away
    assert versions.text_at_update(node.id, created) == "# start\n"  # the creation's version


@override_settings(HISTORY_KEEP_ALL_DAYS=7, HISTORY_KEEP_HOURLY_DAYS=30)
def test_retention_keeps_every_recent_version_then_one_an_hour_then_one_a_day(db):
    alice, bob = make_user("alice"), make_user("bob")
    node = create_file_with_text(create_workspace(alice, "Old"), "main.py", "# start\n")
    now = timezone.now()
    day_40 = (now - timedelta(days=40)).replace(hour=6, minute=0, second=0, microsecond=0)
    day_10 = (now - timedelta(days=10)).replace(hour=6, minute=0, second=0, microsecond=0)
    time_all(node.id, day_40 - timedelta(days=5))
    # Sessions 40 days ago (three in one day), 10 days ago (two in one hour, one the next), and just now.
    moments = [day_40 + timedelta(hours=h) for h in (1, 2, 3)] + [day_10 + timedelta(minutes=m) for m in (0, 10, 70)]
    people = [Author(alice.id, HUMAN), Author(bob.id, HUMAN)]
    for number, at in enumerate(moments):
        append(node.id, people[number % 2], f"line {number}\n", at)
    append(node.id, people[0], "today\n", now - timedelta(minutes=1))
    store.compact(node.id)  # thins as it goes
    assert versions.thin(node.id) == 0  # idempotent
    kept = versions.stored_versions(node.id)
    # Day 40 keeps its last session; the first hour of day 10 its last (minute 10), the next hour its one.
    assert [versions.decompress(v.text).splitlines()[-1] for v in kept] == [
        "# start",
        "line 2",
        "line 4",
        "line 5",
        "today",
    ]
    day = kept[1]
    assert day.started_at == moments[0] and {tuple(p) for p in day.participants} == {a.row() for a in people}
    assert (day.lines_added, day.lines_deleted) == (3, 0)  # against the version kept before it
