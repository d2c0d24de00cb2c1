"""Cost per Spark flush as the AI's text grows: pycrdt merges one client's consecutive insertions into one block.

    python bench/pycrdt_append.py --flushes 1600 --tokens-per-flush 25

Replays what a Spark session and a room do for every flush (5,000 tok/s at the 5 ms window is 25 tokens of 7
characters per flush): insert at the AI's sticky cursor inside an UndoManager-tracked transaction, encode the
update from the previous state vector, and apply it to a second document that observes transactions (a room
replica). Prints the mean microseconds of each step over 100 flushes around several stream lengths; the reference
row is the first 100 flushes of a fresh stream (AI text under 18 KB), the cost a short answer pays.
"""

from __future__ import annotations

import argparse
import time

from pycrdt import Assoc, Doc, Text, UndoManager

STEPS = ("commit", "encode", "room apply")


def run(flushes: int, tokens: int, checkpoints: list[int]) -> dict[int, dict[str, float]]:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += "# base\n"
    undo = UndoManager(scopes=[text], capture_timeout_millis=2**31 - 1)
    undo.include_origin("ai")
    room = Doc()
    room.observe(lambda event: event.update)
    room.apply_update(doc.get_update())
    piece = "".join(f"t{i:05d} " for i in range(tokens))
    cursor = None
    sums: dict[int, dict[str, float]] = {}
    for flush in range(flushes):
        before = doc.get_state()
        t0 = time.perf_counter()
        with doc.transaction(origin="ai"):
            index = len(text) if cursor is None else cursor.get_index()
            text.insert(index, piece)
            cursor = text.sticky_index(index + len(piece), Assoc.BEFORE)
        t1 = time.perf_counter()
        update = doc.get_update(before)
        t2 = time.perf_counter()
        room.apply_update(update)
        t3 = time.perf_counter()
        for mark in checkpoints:
            if mark - 50 <= flush < mark + 50:
                totals = sums.setdefault(mark, dict.fromkeys(STEPS, 0.0))
                for step, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    totals[step] += seconds * 1e6 / 100
    del undo
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flushes", type=int, default=1600)
    parser.add_argument("--tokens-per-flush", type=int, default=25)
    args = parser.parse_args()
    checkpoints = [mark for mark in (100, 400, 800, args.flushes - 50) if 50 <= mark <= args.flushes - 50]
    reference = run(100, args.tokens_per_flush, [50])[50]
    grown = run(args.flushes, args.tokens_per_flush, checkpoints)
    chars = args.tokens_per_flush * 7
    print(f"{'AI text':>10} | " + " | ".join(f"{step:>11}" for step in STEPS) + " | total µs per flush")
    print(
        f"{'reference':>10} | "
        + " | ".join(f"{reference[s]:>11.0f}" for s in STEPS)
        + f" | {sum(reference.values()):.0f}"
    )
    for mark in checkpoints:
        row = grown[mark]
        size = f"{mark * chars // 1024} KB"
        print(f"{size:>10} | " + " | ".join(f"{row[s]:>11.0f}" for s in STEPS) + f" | {sum(row.values()):.0f}")


if __name__ == "__main__":
    main()
