"""Start Daphne with Sparkroom's WebSocket size limits: `python -m workspace.serve -b 127.0.0.1 -p 8000`.

Daphne's default message limit (1 MiB) also caps what the server may *send* (autobahn raises
PayloadExceededError), so a document over 1 MiB could not be opened and a larger merged update never
reached other clients. The limits here follow settings.COLLAB_MAX_DOC_BYTES (the largest message the
server sends: the whole document in sync step 2). Incoming frames above COLLAB_MAX_FRAME_BYTES are
still refused by the collab consumer with close code 4413. Other arguments pass through to Daphne.
"""

from __future__ import annotations

import os
import sys

APPLICATION = "workspace.asgi:application"
PROTOCOL_HEADROOM_BYTES = 64 * 1024


def daphne_arguments(argv: list[str]) -> list[str]:
    from django.conf import settings

    limit = str(settings.COLLAB_MAX_DOC_BYTES + PROTOCOL_HEADROOM_BYTES)
    application = [] if any(arg.endswith(":application") for arg in argv) else [APPLICATION]
    return ["--websocket-max-message-size", limit, "--websocket-max-frame-size", limit, *argv, *application]


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(daphne_arguments(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
