"""Property: random concurrent edits by several people and a server-side AI writer, stored each with whom it was
written for and compacted at random moments: the credit of every character of the text is the writer that
inserted it (each writer types its own letters, so the text itself tells who typed what)."""

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

    credits = authorship.current(node.id)
    assert credits.text == store.load_text(node.id)
    for character, origin in zip(credits.text, credits.origin_of_characters(), strict=True):
        if character in "#!":
            assert origin.kind == "server"
            continue
        writer = next(number for number, letters in enumerate(LETTERS) if character in letters)
        assert (origin.author_id, origin.kind, origin.model, origin.ref) == authors[writer].row()
