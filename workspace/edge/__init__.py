"""The WebSocket edge under Daphne: two shortcuts past Twisted's and autobahn's send paths, checked at start-up.

- `twisted_writes`: an idle Twisted TCP connection writes straight to its socket (as asyncio's transports do);
- `daphne_send`: the rooms' binary frames are framed here and written to Daphne's connection, skipping Daphne's
  reply coroutine and autobahn's sendMessage; `client_transport` gives each document connection its transport
  for `collab.outbox` (the ASGI send for any other server, e.g. uvicorn, and Channels' test communicator).

Both read private attributes of Twisted, autobahn and Daphne, which requirements.txt pins exactly. `install()`, run
once where the application is built (workspace/asgi.py, so before Daphne serves), runs each shortcut's self-check
(`selfcheck`) on the installed versions and switches on only the shortcuts that passed (WS_EDGE_SHORTCUTS=0 keeps
both off). A shortcut that fails
later falls back for good: a write to Twisted's buffered path, a frame to the ASGI send. Without them everything
works the same, through the libraries' own paths, only with more CPU per frame (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from workspace.edge.daphne_send import client_transport, direct_frames_enabled, enable_direct_frames

__all__ = ["EdgeShortcuts", "client_transport", "direct_frames_enabled", "install"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeShortcuts:
    """Which shortcuts are on; for each one that is off, why (None when on)."""

    write_through: str | None
    direct_frames: str | None


def install() -> EdgeShortcuts:
    """Self-check both shortcuts and switch on those that work (idempotent); logs the outcome."""
    from django.conf import settings

    from workspace.edge import selfcheck, twisted_writes

    if not settings.WS_EDGE_SHORTCUTS:
        twisted_writes.uninstall()
        enable_direct_frames(False)
        shortcuts = EdgeShortcuts("off (WS_EDGE_SHORTCUTS)", "off (WS_EDGE_SHORTCUTS)")
    else:
        twisted_writes.uninstall()  # the check exercises Twisted's own write as the buffered path
        shortcuts = EdgeShortcuts(selfcheck.write_through_problem(), selfcheck.direct_frames_problem())
        if shortcuts.write_through is None:
            twisted_writes.install()
        enable_direct_frames(shortcuts.direct_frames is None)
    for name, problem in (("write-through", shortcuts.write_through), ("direct frames", shortcuts.direct_frames)):
        if problem is None:
            logger.info("WebSocket edge: %s on", name)
        else:
            logger.warning("WebSocket edge: %s off, the library's own path serves instead: %s", name, problem)
    return shortcuts
