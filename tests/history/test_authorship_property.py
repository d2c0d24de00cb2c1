"""Property: random concurrent edits by several people and a server-side AI writer, stored each with whom it was
written for and compacted at random moments: the credit of every character of the text is the writer that
inserted it (each writer types its own letters, so the text itself tells who typed what), also when the credits
are asked for in between and the next ask goes on from the replica kept."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from tests.support.helpers import make_user
from workspace.collab import authorship, store
from workspace.collab.attribution import HUMAN, SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.ydoc import TEXT_NAME
from workspace.projects.services import create_workspace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]

LETTERS = ("ab", "cd", "ef", "XY")  # three people, then the AI writer
_numbers = itertools.count()

edit = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 500), st.integers(1, 5)),
    st.tuples(st.just("delete"), st.integers(0, 500), st.integers(1, 4)),
    st.tuples(st.just("sync"), st.just(0), st.just(0)),
)
step = st.one_of(st.tuples(st.integers(0, len(LETTERS) - 1), edit), st.just(("compact",)))


@pytest.fixture
def people(db):
    return [make_user(f"writer{number}") for number in range(3)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=40))
def test_the_credit_of_every_character_is_the_writer_that_inserted_it(people, steps):
    workspace = create_workspace(people[0], f"Property {next(_numbers)}")
    node = create_file_with_text(workspace, "main.py", "#!")
    authors = [Author(person.id, HUMAN) for person in people] + [Author(people[0].id, SPARK, "tiny", "42")]
    replicas = [Doc() for _ in authors]
    for replica in replicas:
        replica.get(TEXT_NAME, type=Text)
    typed = itertools.count()

    def sync(replica: Doc) -> None:
        for update in store.load_updates(node.id)[0]:
            replica.apply_update(update)

    for replica in replicas:
        sync(replica)
    for item in steps:
        if item == ("compact",):
            store.compact(node.id)
            continue
        writer, (kind, position, size) = item
        replica = replicas[writer]
        text = replica.get(TEXT_NAME, type=Text)
        if kind == "sync":
            sync(replica)
            continue
        before = replica.get_state()
        if kind == "insert":
            letters = LETTERS[writer]
            text.insert(position % (len(text) + 1), "".join(letters[next(typed) % 2] for _ in range(size)))
        elif len(text):
            start = position % len(text)
            del text[start : min(len(text), start + size)]
        update = replica.get_update(before)
        if update != b"\x00\x00":
            store.append_update(node.id, update, authors[writer])
        if next(typed) % 3 == 0:
            authorship.current(node.id)  # someone looks at the blame meanwhile: the next ask goes on from here

    credits = authorship.current(node.id)
    assert credits.text == store.load_text(node.id)
    fresh = authorship._replay_from_snapshot(node.id).credits()  # what a replay from the snapshot credits
    assert credits.origin_of_characters() == fresh.origin_of_characters()
    for character, origin in zip(credits.text, credits.origin_of_characters(), strict=True):
        if character in "#!":
            assert origin.kind == "server"
            continue
        writer = next(number for number, letters in enumerate(LETTERS) if character in letters)
        assert (origin.author_id, origin.kind, origin.model, origin.ref) == authors[writer].row()


def test_an_update_committed_late_with_a_lower_id_is_not_missed_by_the_kept_replica(people):
    """Ids come from a sequence when a row is inserted, not when it commits: a row may appear below the newest id
    the kept replica had read. Simulated by holding one row back and putting it in again with its own id."""
    from workspace.collab.models import DocUpdate

    node = create_file_with_text(create_workspace(people[0], "Late"), "main.py", "")
    writer = Doc()
    text = writer.get(TEXT_NAME, type=Text)
    ids = []
    for number, letters in enumerate(("aa", "bb", "cc")):
        before = writer.get_state()
        text.insert(len(text), letters)
        ids.append(store.append_update(node.id, writer.get_update(before), Author(people[number].id, HUMAN)))
    late = DocUpdate.objects.get(id=ids[1])
    DocUpdate.objects.filter(id=late.id).delete()  # not committed yet when the blame is asked for
    assert authorship.current(node.id).text == "aa"  # "cc" cannot integrate before the "bb" it follows
    late.save(force_insert=True)
    credits = authorship.current(node.id)
    assert credits.text == "aabbcc"
    assert [origin.author_id for origin in credits.origin_of_characters()] == [p.id for p in people for _ in "xx"]
