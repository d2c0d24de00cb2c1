"""Daphne as `python -m workspace.serve` runs it, except that document updates are not written to the database.

A diagnostic for `collab.py --without-store`, never a way to run Sparkroom: it measures what storing every update
before its fan-out costs. Each update's fan-out runs at once, as if its commit had just been read back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def persist_without_storing(self, file_id: int, update: bytes, then: Callable | None = None) -> None:
    from workspace.collab import writer

    writer._run_fan_out([then])


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import django

    django.setup()
    from workspace import serve
    from workspace.collab.writer import UpdateWriter

    UpdateWriter.persist = persist_without_storing
    serve.main()
