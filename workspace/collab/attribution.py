"""Who wrote a document's updates: the origin recorded with every stored update, and who contributed since a time.

Every stored update (`DocUpdate`) carries an `Author`: the user it was written for and the kind of writer — a
person in a browser ("human", the user of the authenticated connection, never what the client claims), a Spark
stream ("spark", with its model and request id), a Deep job's apply ("deep", model and job id), or a git pull /
switch ("git"). The author travels with the update through `Room.accept` / `Room.edit` and the update writer,
and is written in the same row as the update: no extra query per keystroke.

Compaction folds and deletes update rows; before it deletes them it keeps, per author of the folded rows, the
time of their last update (`DocContribution`). `contributors_since` reads both: the rows still in the log and
the contributions folded away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Max

from workspace.collab.models import DocContribution, DocUpdate

HUMAN = "human"
SPARK = "spark"
DEEP = "deep"
GIT = "git"
KINDS = (HUMAN, SPARK, DEEP, GIT)


@dataclass(frozen=True)
class Author:
    """Whom an update was written for, and by what: a person, or a model / git working for a person."""

    user_id: int | None
    kind: str = HUMAN
    model: str = ""
    ref: str = ""  # the Spark request's or Deep job's id, where there is one

    def row(self) -> tuple[int | None, str, str, str]:
        """The values of DocUpdate's author columns, in the order the writer inserts them."""
        return (self.user_id, self.kind, self.model[:200], self.ref[:64])


# Server-side writes made for nobody in particular (e.g. a file's first text): nobody's contribution.
SERVER = Author(None, "server")
AUTHOR_COLUMNS = ("author_id", "origin_kind", "origin_model", "origin_ref")


@dataclass(frozen=True)
class Contributor:
    """A person (kind "human", with a name and email) or a model (kind "spark"/"deep", with its name)."""

    kind: str
    name: str
    email: str
    user_id: int | None = None
    model: str = ""


def email_of(user) -> str:
    """A person's address in commits: theirs, or one that names them and reaches nobody."""
    return getattr(user, "email", "") or f"{user.get_username()}@users.sparkroom.invalid"


def record_folded_contributions(file_id: int, up_to_id: int) -> None:
    """Keep who wrote the file's update rows with id <= up_to_id (about to be deleted by compaction): per author,
    the time of their last update. Runs in the compaction's transaction."""
    rows = (
        DocUpdate.objects.filter(file_id=file_id, id__lte=up_to_id)
        .values(*AUTHOR_COLUMNS[:3])
        .annotate(last_at=Max("created_at"))
    )
    for row in rows:
        same = {name: row[name] for name in AUTHOR_COLUMNS[:3]}
        kept = DocContribution.objects.filter(file_id=file_id, **same)
        if not kept.update(last_at=row["last_at"]):
            DocContribution.objects.create(file_id=file_id, **row)


def contributors_since(file_ids: Iterable[int], since: datetime | None) -> list[Contributor]:
    """The people and models who wrote to any of these files after `since` (None: ever), people first, each once.

    A model's contribution also counts its user as a contributor only when that user wrote themselves."""
    file_ids = list(file_ids)
    keys: set[tuple[int | None, str, str]] = set()
    live = DocUpdate.objects.filter(file_id__in=file_ids)
    folded = DocContribution.objects.filter(file_id__in=file_ids)
    if since is not None:
        live = live.filter(created_at__gt=since)
        folded = folded.filter(last_at__gt=since)
    for query in (live, folded):
        keys.update(query.values_list(*AUTHOR_COLUMNS[:3]).distinct())
    return contributors_of(keys)


def contributors_of(keys: Iterable[tuple[int | None, str, str]]) -> list[Contributor]:
    """The people (kind human) and models (spark / deep) among these (user id, kind, model) authors, people
    first (by id), each once; other kinds (git, server, unknown) are nobody's contribution."""
    keys = set(keys)
    user_ids = {user_id for user_id, kind, _ in keys if kind == HUMAN and user_id is not None}
    users = get_user_model().objects.filter(id__in=user_ids).order_by("id")
    people = [
        Contributor(HUMAN, user.get_full_name() or user.get_username(), email_of(user), user_id=user.id)
        for user in users
    ]
    models = sorted({(kind, model) for _, kind, model in keys if kind in (SPARK, DEEP) and model})
    return people + [
        Contributor(kind, f"{kind.capitalize()} ({model})", f"{kind}@sparkroom.invalid", model=model)
        for kind, model in models
    ]
