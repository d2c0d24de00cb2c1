"""Start Daphne with Sparkroom's WebSocket size limits: `python -m workspace.serve -b 127.0.0.1 -p 8000`.

Daphne's default message limit (1 MiB) also caps what the server may *send* (autobahn raises
PayloadExceededError), so a document over 1 MiB could not be opened and a larger merged update never
reached other clients. The limits here follow settings.COLLAB_MAX_DOC_BYTES (the largest message the
server sends: the whole document in sync step 2). Incoming frames above COLLAB_MAX_FRAME_BYTES are
still refused by the collab consumer with close code 4413. Other arguments pass through to Daphne.

Before serving, the application is imported (which self-checks the WebSocket edge's shortcuts and switches on
those that work: `workspace.edge.install`, from workspace/asgi.py) and the heap it built is frozen (see
`freeze_startup_heap`).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

APPLICATION = "workspace.asgi:application"
PROTOCOL_HEADROOM_BYTES = 64 * 1024


def daphne_arguments(argv: list[str]) -> list[str]:
    from django.conf import settings

    limit = str(settings.COLLAB_MAX_DOC_BYTES + PROTOCOL_HEADROOM_BYTES)
    application = [] if any(arg.endswith(":application") for arg in argv) else [APPLICATION]
    return ["--websocket-max-message-size", limit, "--websocket-max-frame-size", limit, *argv, *application]


def freeze_startup_heap(arguments: list[str]) -> None:
    """Import the application, then move every object alive into the collector's permanent generation.

    The modules, classes and functions of Django, Twisted, Channels and the app (about 150,000 tracked
    objects) live as long as the process, yet every full collection walked them again, with the event loop
    stopped: with 1,000 clients connecting, the longest full collection took 126 ms, with this 59 ms
    (`bench/collab.py --gc-pauses`). What the connections create later is collected as usual.
    """
    application = next(arg for arg in reversed(arguments) if arg.endswith(":application"))
    importlib.import_module(application.split(":", 1)[0])
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    from daphne.cli import CommandLineInterface

    arguments = daphne_arguments(sys.argv[1:] if argv is None else argv)
    freeze_startup_heap(arguments)
    CommandLineInterface().run(arguments)


if __name__ == "__main__":
    main()
