"""Daphne as `python -m workspace.serve` runs it, with every garbage-collector pause timed (collab.py --gc-pauses).

When Daphne stops, writes {"frozen": n, "pauses": [[wall time, generation, ms], ...]} as JSON to $BENCH_GC_LOG.
BENCH_GC_NO_FREEZE=1 skips `freeze_startup_heap`, to compare with the shipped start-up.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workspace import serve  # noqa: E402

pauses: list[tuple[float, int, float]] = []
_started: list[float] = []


def on_collection(phase: str, info: dict) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        pauses.append((time.time(), info["generation"], (time.perf_counter() - _started.pop()) * 1000))


def write_log() -> None:
    Path(os.environ["BENCH_GC_LOG"]).write_text(json.dumps({"frozen": gc.get_freeze_count(), "pauses": pauses}))


if __name__ == "__main__":
    gc.callbacks.append(on_collection)
    atexit.register(write_log)
    if os.environ.get("BENCH_GC_NO_FREEZE"):
        serve.freeze_startup_heap = lambda arguments: None
    serve.main()
