"""Co-authors per changed line: a commit's `Co-authored-by:` trailers name who wrote (or deleted committed text
on) the lines it changes since the last commit, from the CRDT's record of who inserted each character; writers
of lines left unchanged, and text typed and deleted again, credit nobody."""

from __future__ import annotations

import pytest

from tests.support.helpers import make_user
from tests.support.repos_data import git
from workspace.collab import store
from workspace.collab.attribution import SPARK, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.ydoc import doc_text
from workspace.projects.models import FileNode, Membership, Role
from workspace.projects.services import create_workspace
from workspace.repos import working
from workspace.repos.models import repository_path

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.REPOS_DATA_DIR = tmp_path / "repos"


@pytest.fixture
def people(user):
    bob, carol = make_user("bob"), make_user("carol")
    return user, bob, carol


@pytest.fixture
def app(people):
    alice, bob, carol = people
    workspace = create_workspace(alice, "Lines", readme=False)
    for person in (bob, carol):
        Membership.objects.create(workspace=workspace, user=person, role=Role.EDITOR)
    working.initialise(alice, workspace.id)
    return create_file_with_text(workspace, "app.py")


def edit(node: FileNode, at: int, *, delete: int = 0, insert: str = "", author: Author) -> None:
    """One stored update by `author`: delete `delete` characters at `at`, then insert `insert` there."""
    doc = store.load_doc(node.id)
    text = doc_text(doc)
    before = doc.get_state()
    with doc.transaction():
        if delete:
            del text[at : at + delete]
        if insert:
            text.insert(at, insert)
    store.append_update(node.id, doc.get_update(before), author)


def trailers(workspace_id: int) -> list[str]:
    output = git("log", "-1", "--format=%(trailers:key=Co-authored-by,valueonly)", cwd=repository_path(workspace_id))
    return [line for line in output.split("\n") if line]


def author_of_head(workspace_id: int) -> str:
    return git("log", "-1", "--format=%an", cwd=repository_path(workspace_id)).strip()


def two_lines_committed(app: FileNode, people) -> None:
    alice, bob, _ = people
    edit(app, 0, insert="alice = 1\n", author=Author(alice.id))
    edit(app, len("alice = 1\n"), insert="bob = 2\n", author=Author(bob.id))
    working.commit(alice, app.workspace_id, "Two lines")
    assert trailers(app.workspace_id) == ["bob <bob@users.sparkroom.invalid>"]


SPARK_TRAILER = "Spark (spark-mini) <spark@sparkroom.invalid>"


def bob_edits_line_2_and_spark_writes_line_3(app: FileNode, people) -> None:
    _, bob, carol = people
    edit(app, len("alice = 1\nbob = 2"), insert="2", author=Author(bob.id))
    edit(app, len("alice = 1\nbob = 22\n"), insert="spark = 3\n", author=Author(carol.id, SPARK, "spark-mini", "7"))


def test_the_next_commit_credits_the_writers_of_the_changed_lines_not_of_the_unchanged_ones(app, people):
    _, _, carol = people
    two_lines_committed(app, people)
    bob_edits_line_2_and_spark_writes_line_3(app, people)
    working.commit(carol, app.workspace_id, "Bob's fix and Spark's line")
    assert author_of_head(app.workspace_id) == "carol"
    # Alice wrote line 1, unchanged; Spark's request was carol's, but the model is credited, not her.
    assert trailers(app.workspace_id) == ["bob <bob@users.sparkroom.invalid>", SPARK_TRAILER]


def test_when_bob_commits_his_own_line_he_is_the_author_and_only_the_model_is_a_co_author(app, people):
    _, bob, _ = people
    two_lines_committed(app, people)
    bob_edits_line_2_and_spark_writes_line_3(app, people)
    working.commit(bob, app.workspace_id, "My fix and Spark's line")
    assert author_of_head(app.workspace_id) == "bob"
    assert trailers(app.workspace_id) == [SPARK_TRAILER]


def test_a_line_only_deleted_credits_whoever_deleted_it(app, people):
    alice, bob, carol = people
    two_lines_committed(app, people)
    edit(app, 0, delete=len("alice = 1\n"), author=Author(bob.id))  # Bob removes Alice's line
    working.commit(carol, app.workspace_id, "Drop line 1")
    assert git("show", "HEAD:app.py", cwd=repository_path(app.workspace_id)) == "bob = 2\n"
    assert trailers(app.workspace_id) == ["bob <bob@users.sparkroom.invalid>"]


def test_text_typed_and_deleted_again_before_the_commit_credits_nobody(app, people):
    alice, bob, carol = people
    two_lines_committed(app, people)
    edit(app, len("alice = 1\n"), insert="# scratch by bob\n", author=Author(bob.id))
    edit(app, len("alice = 1\n"), delete=len("# scratch by bob\n"), author=Author(bob.id))
    edit(app, len("alice = 1\nbob = 2\n"), insert="carol = 3\n", author=Author(carol.id))
    working.commit(alice, app.workspace_id, "Carol's line")
    assert trailers(app.workspace_id) == ["carol <carol@users.sparkroom.invalid>"]


def test_the_credits_survive_compaction_of_the_update_log(app, people):
    _, _, carol = people
    two_lines_committed(app, people)
    bob_edits_line_2_and_spark_writes_line_3(app, people)
    assert store.compact(app.id) > 0  # every row, before and after the last commit, folded into the snapshot
    working.commit(carol, app.workspace_id, "After compaction")
    assert trailers(app.workspace_id) == ["bob <bob@users.sparkroom.invalid>", SPARK_TRAILER]
