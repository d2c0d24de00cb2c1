"""Completing the futures of callers who wait for a batch (group commits of updates, pipelined publishes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


def settle(futures: Iterable[asyncio.Future], error: BaseException | None) -> None:
    """Resolve every still-pending future, with `error` when the batch failed; cancelled waiters are skipped."""
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
