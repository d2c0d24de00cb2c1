"""Three-way merge of a job's changeset into live text, and its minimal CRDT application."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from workspace.collab.merge import apply_to_text, merge3
from workspace.jobs.changeset import unified_diff

pytestmark = pytest.mark.embedded

BASE = "one\ntwo\nthree\nfour\nfive\nsix\n"


def live_text(content: str) -> tuple[Doc, Text]:
    doc = Doc()
    text = doc.get("content", type=Text)
    text.insert(0, content)
    return doc, text


def test_edits_on_both_sides_in_different_places_are_all_kept():
    ours = "ONE (edited live)\ntwo\nthree\nfour\nfive\nsix\n"
    theirs = "one\ntwo\nthree\nfour\nFIVE (from the job)\nsix\nseven\n"
    result = merge3(BASE, ours, theirs)
    assert result.clean
    assert result.text == "ONE (edited live)\ntwo\nthree\nfour\nFIVE (from the job)\nsix\nseven\n"


def test_different_changes_to_the_same_line_are_a_conflict_that_keeps_ours_and_reports_theirs():
    ours = "one\nTWO live\nthree\nfour\nfive\nsix\n"
    theirs = "one\nTWO job\nthree\nfour\nfive\nsix\nseven\n"
    result = merge3(BASE, ours, theirs)
    assert [c.as_dict() for c in result.conflicts] == [
        {"line": 2, "base": "two\n", "ours": "TWO live\n", "theirs": "TWO job\n"}
    ]
    # The non-conflicting part of the job's version still lands.
    assert result.text == "one\nTWO live\nthree\nfour\nfive\nsix\nseven\n"


def test_the_same_change_on_both_sides_is_taken_once():
    same = "one\ntwo\n3\nfour\nfive\nsix\n"
    result = merge3(BASE, same, same)
    assert result.clean and result.text == same


def test_a_new_file_created_concurrently_under_the_same_path_conflicts_instead_of_being_overwritten():
    result = merge3("", "made by a member\n", "made by the job\n")
    assert result.text == "made by a member\n"
    assert result.conflicts[0].theirs == "made by the job\n"


def test_apply_touches_only_the_changed_span_and_handles_non_ascii():
    ours = "héllo 😀\nkeep me\nvalue = 1\n"
    theirs = "héllo 😀\nkeep me\nvalue = 2  # ünïcode\n"
    doc, text = live_text(ours)
    result = merge3(ours, ours, theirs)
    # Another replica that typed concurrently (before seeing our update) inside the unchanged line.
    other = Doc()
    other_text = other.get("content", type=Text)
    other.apply_update(doc.get_update())
    update = apply_to_text(doc, text, ours, result)
    assert str(text) == theirs
    other_text.insert(len("héllo 😀\nkeep".encode()), " (edited)")
    other.apply_update(update)
    doc.apply_update(other.get_update())
    assert str(text) == str(other_text) == "héllo 😀\nkeep (edited) me\nvalue = 2  # ünïcode\n"


def test_apply_of_a_merge_without_changes_produces_an_empty_update():
    doc, text = live_text(BASE)
    update = apply_to_text(doc, text, BASE, merge3(BASE, BASE, BASE))
    assert update in (b"", b"\x00\x00")
    assert str(text) == BASE


def test_unified_diff_has_headers_and_marks_a_missing_final_newline():
    diff = unified_diff("src/a.py", "x = 1\n", "x = 2")
    assert diff.startswith("--- a/src/a.py\n+++ b/src/a.py\n")
    assert "-x = 1\n+x = 2\n\\ No newline at end of file\n" in diff
    assert unified_diff("new.py", "", "y\n").startswith("--- /dev/null\n+++ b/new.py\n")


lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "é\n", "😀\n", "\n"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(base=lines, ours=lines, theirs=lines)
def test_merge_properties_and_crdt_application_agree(base, ours, theirs):
    base_text, our_text, their_text = "".join(base), "".join(ours), "".join(theirs)
    result = merge3(base_text, our_text, their_text)
    if our_text == base_text:
        assert result.text == their_text and result.clean
    if their_text == base_text:
        assert result.text == our_text and result.clean
    doc, text = live_text(our_text)
    apply_to_text(doc, text, our_text, result)
    assert str(text) == result.text
