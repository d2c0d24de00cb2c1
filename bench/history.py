"""Blame of a long-edited file: 100,000 edits from 5 authors (4 people and a Spark writer) on a 5,000-line file,
stored as the update writer stores them (one row per edit with its author) and compacted every
COLLAB_COMPACT_EVERY rows like the server does. Prints, from the same run:

- blame of the file (`timeline.blame.file_blame`: stored credits + the log + line authors + names), p50 / p99,
  right after a compaction and with a full log (COLLAB_COMPACT_EVERY - 1 rows pending), beside the reference
  `store.load_text` (rebuilding the same text from the same snapshot and log);
- compaction with the credits' fold and the versions it records (collab.versions) against the CRDT compaction
  alone (`ydoc.compacted_update` on the same rows);
- the timeline (`timeline.history.timeline`, what GET /api/files/<id>/versions reads) and rebuilding one version's
  text (`history.version_text`, a random version each round), p50 / p99, with a full log and after compaction;
- storage: update bytes per edit in the log, and after compaction the snapshot with and without the credits
  (`DocAuthorship`) and the versions (`DocVersion`: compressed texts, participants), i.e. the growth over keeping
  no history.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sparkroom_bench_history python bench/history.py

The database named in DATABASE_URL is created if missing and migrated; the bench's rows are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"


def timed(func, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    ensure_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from pycrdt import Doc, Text

    from workspace.collab import authorship, store
    from workspace.collab.attribution import HUMAN, SPARK, Author
    from workspace.collab.files import create_file_with_text
    from workspace.collab.models import DocAuthorship, DocState, DocUpdate, DocVersion
    from workspace.collab.ydoc import TEXT_NAME, compacted_update
    from workspace.projects.services import create_workspace
    from workspace.timeline import history
    from workspace.timeline.blame import file_blame

    call_command("migrate", verbosity=0)
    stamp = time.strftime("%H%M%S")
    users = [get_user_model().objects.create_user(username=f"bench-history-{stamp}-{n}") for n in range(4)]
    authors = [Author(user.id, HUMAN) for user in users] + [Author(users[0].id, SPARK, "fast-model", "1")]
    workspace = create_workspace(users[0], f"bench history {stamp}")
    initial = "".join(f"value_{n} = compute({n})\n" for n in range(args.lines))
    node = create_file_with_text(workspace, "long.py", initial)
    store.compact(node.id)
    every = settings.COLLAB_COMPACT_EVERY
    rng = random.Random(13)
    replica = Doc()
    for update in store.load_updates(node.id)[0]:
        replica.apply_update(update)
    text = replica.get(TEXT_NAME, type=Text)
    # Each edit's own update, as a browser sends it (a transaction's update: its inserts and its deletions only).
    sent: list[bytes] = []
    subscription = replica.observe(lambda event: sent.append(event.update))
    log_bytes = 0
    compact_with_fold: list[float] = []
    compact_crdt_only: list[float] = []
    start_time = timezone.now() - timedelta(days=7)
    pending: list[DocUpdate] = []
    print(f"writing {args.edits} edits by {len(authors)} authors, compacting every {every} ...", flush=True)
    for number in range(args.edits):
        author = authors[rng.randrange(len(authors))]
        length = len(text)
        position = rng.randrange(length)
        if rng.random() < 0.75 or length < 1000:
            text.insert(position, "x" if author.kind == HUMAN else "ai(1)\n")
        else:
            del text[position : position + 1]
        update = sent.pop()
        log_bytes += len(update)
        user_id, kind, model, ref = author.row()
        pending.append(
            DocUpdate(
                file_id=node.id, data=update, author_id=user_id, origin_kind=kind, origin_model=model, origin_ref=ref
            )
        )
        if len(pending) == every or number == args.edits - 1:
            created = DocUpdate.objects.bulk_create(pending)
            # One edit a few seconds apart: spread the rows over the week before now, as real typing would be.
            at = start_time + timedelta(seconds=number * 6)
            DocUpdate.objects.filter(id__in=[row.id for row in created]).update(created_at=at)
            pending = []
            if number < args.edits - 1:
                state = DocState.objects.get(file_id=node.id)
                rows = [bytes(row.data) for row in created]
                began = time.perf_counter()
                compacted_update([bytes(state.snapshot), *rows])
                compact_crdt_only.append(time.perf_counter() - began)
                began = time.perf_counter()
                store.compact(node.id)
                compact_with_fold.append(time.perf_counter() - began)

    lines = str(text).count("\n")
    print(f"file now {lines} lines, {len(str(text).encode())} bytes; {every - 1} rows pending (full log)")
    node.refresh_from_db()

    def cold_blame() -> None:
        authorship.forget_kept(node.id)  # as a process that has not shown this file's blame yet
        file_blame(node)

    full_log = timed(cold_blame, args.rounds)
    full_log_reference = timed(lambda: store.load_text(node.id), args.rounds)
    # Blame shown while someone types: one more edit stored since the last blame, the log nearly full.
    file_blame(node)
    typing: list[float] = []
    for _ in range(args.rounds):
        text.insert(rng.randrange(len(text)), "x")
        DocUpdate.objects.create(file_id=node.id, data=sent.pop(), author_id=authors[0].row()[0], origin_kind=HUMAN)
        began = time.perf_counter()
        file_blame(node)
        typing.append(time.perf_counter() - began)

    def rebuild_a_version() -> None:
        history.version_text(node, rng.choice(version_ids))

    timeline_full_log = timed(lambda: history.timeline(node), args.rounds)
    version_ids = [version.id for version in history.timeline(node).versions]
    rebuild_full_log = timed(rebuild_a_version, args.rounds)
    store.compact(node.id)
    replica.unobserve(subscription)
    compacted = timed(cold_blame, args.rounds)
    compacted_reference = timed(lambda: store.load_text(node.id), args.rounds)
    timeline_compacted = timed(lambda: history.timeline(node), args.rounds)
    version_ids = [version.id for version in history.timeline(node).versions]
    rebuild_compacted = timed(rebuild_a_version, args.rounds)
    blame = file_blame(node)
    unreviewed = sum(blame.unreviewed)

    state = DocState.objects.get(file_id=node.id)
    credits = DocAuthorship.objects.get(file_id=node.id)
    snapshot = len(bytes(state.snapshot))
    credit_bytes = len(json.dumps(credits.origins)) + len(json.dumps(credits.runs))
    kept = list(DocVersion.objects.filter(file_id=node.id).values_list("text", "participants"))
    version_bytes = sum(len(bytes(data)) + len(json.dumps(people)) for data, people in kept)
    print()
    print(f"blame, right after compaction     {percentiles(compacted)}")
    print(f"  reference store.load_text       {percentiles(compacted_reference)}")
    print(f"blame, {every - 1} rows in the log      {percentiles(full_log)}")
    print(f"blame, one edit since the last    {percentiles(typing)}  (the replica kept by the last blame)")
    print(f"  reference store.load_text       {percentiles(full_log_reference)}")
    print(f"timeline, {every - 1} rows in the log   {percentiles(timeline_full_log)}")
    print(f"timeline, after compaction        {percentiles(timeline_compacted)}  ({len(version_ids)} versions)")
    print(f"rebuild a version, full log       {percentiles(rebuild_full_log)}")
    print(f"rebuild a version, compacted      {percentiles(rebuild_compacted)}")
    print(f"compaction with fold + versions   {percentiles(compact_with_fold)}")
    print(f"  reference compacted_update only {percentiles(compact_crdt_only)}")
    print(f"blame: {len(blame.lines)} lines, {len(blame.authors)} origins shown, {unreviewed} AI lines unreviewed")
    print(f"storage: log {log_bytes / args.edits:.1f} B/edit before compaction")
    print(
        f"  after: snapshot {snapshot} B ({snapshot / args.edits:.2f} B/edit) + credits {credit_bytes} B"
        f" ({len(credits.origins)} origins, {len(credits.runs) // 2} runs)"
        f" = growth {(snapshot + credit_bytes) / snapshot:.2f}x"
        " over the snapshot alone (no history)"
    )
    with_history = snapshot + credit_bytes + version_bytes
    print(
        f"  with versions: + {len(kept)} versions {version_bytes} B = {with_history} B"
        f" ({with_history / args.edits:.2f} B/edit) = growth {with_history / snapshot:.2f}x over no history"
    )
    workspace.delete()
    for user in users:
        user.delete()


if __name__ == "__main__":
    main()
