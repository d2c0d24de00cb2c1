"""Cost of an automatic checkpoint (taken before every Spark Accept, Deep apply, pull, switch and restore) of a
workspace of many files, with the remembered content hashes (`collab.ContentMark`) against the same checkpoint
with them dropped first, i.e. loading every document as a checkpoint did before them. Same run, same files:

- unchanged: nothing edited since the last checkpoint;
- one edit: one file edited since;
- reference: the marks dropped, so every document is loaded and hashed (nothing new to store either way).

    python bench/checkpoints.py --files 200 --rounds 10               # embedded mode (SQLite in .data/)
    DATABASE_URL=postgres://… python bench/checkpoints.py --files 200  # PostgreSQL

Prints p50 / p99 milliseconds of each; the bench's workspace is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p99 {p99:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--lines", type=int, default=100, help="lines per file")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from workspace.collab import checkpoints, store
    from workspace.collab.files import create_file_with_text
    from workspace.collab.models import ContentMark
    from workspace.projects.services import create_workspace

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-checkpoints")
    workspace = create_workspace(user, f"bench checkpoints {time.time_ns()}", readme=False)
    try:
        nodes = [
            create_file_with_text(workspace, f"src/m{i}.py", "".join(f"line {j} of {i}\n" for j in range(args.lines)))
            for i in range(args.files)
        ]
        checkpoints.auto(workspace.id, "first")
        figures: dict[str, list[float]] = {"unchanged": [], "one edit": [], "reference (every file loaded)": []}
        for round_number in range(args.rounds):
            for label in figures:
                if label == "one edit":
                    edited = nodes[round_number % len(nodes)].id
                    store.replace_text(edited, store.load_text(edited) + f"# round {round_number}\n")
                if label.startswith("reference"):
                    ContentMark.objects.filter(file__workspace=workspace).delete()
                started = time.perf_counter()
                checkpoints.auto(workspace.id, f"bench {label}")
                figures[label].append((time.perf_counter() - started) * 1000)
        print(f"checkpoint of {args.files} files × {args.lines} lines, {args.rounds} rounds")
        for label, samples in figures.items():
            print(f"  {label:32} {percentiles(samples)}")
    finally:
        workspace.delete()


if __name__ == "__main__":
    main()
