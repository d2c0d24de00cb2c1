"""The document WebSocket process type: uvicorn (uvloop + httptools, WebSockets by `websockets`) serving the ASGI app.

    python -m workspace.serve_ws -b 127.0.0.1 -p 8201 [--proxy-headers]

In the single-host topology (workspace/host.py, deploy/haproxy.cfg.template) HAProxy sends /ws/yjs/ to these
processes, consistent-hashed on the file id; pages, the API and /ws/workspace/ stay on Daphne (`workspace.serve`).
The application is the same `workspace.asgi:application`, so any route works here too; nothing in it depends on
which server runs it: every frame goes through the ASGI `send`, queued per connection by `collab.outbox`.

Limits: an incoming message may be up to COLLAB_MAX_DOC_BYTES (plus protocol headroom), so that a frame over
COLLAB_MAX_FRAME_BYTES reaches the collab consumer and gets its 4413 close; outgoing messages have no limit here.
No per-message compression is negotiated (as under Daphne: a keystroke is a few dozen bytes, deflating every frame
for every client would cost more CPU than it saves). Before serving, the start-up heap is frozen (`workspace.serve`).
"""

from __future__ import annotations

import argparse
import os

from workspace.serve import APPLICATION, PROTOCOL_HEADROOM_BYTES, freeze_startup_heap


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workspace.serve_ws", description=__doc__.split("\n\n")[0])
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=8201, help="port to listen on (default 8201)")
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For / -Proto from 127.0.0.1 (the single-host proxy), as Daphne's --proxy-headers",
    )
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop (default uvloop)")
    return parser.parse_args(argv)


def uvicorn_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of `uvicorn.run` for these command-line arguments."""
    from django.conf import settings

    return {
        "host": args.bind,
        "port": args.port,
        "loop": args.loop,
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_max_size": settings.COLLAB_MAX_DOC_BYTES + PROTOCOL_HEADROOM_BYTES,
        "ws_per_message_deflate": False,
        "lifespan": "off",  # Channels' ProtocolTypeRouter has no lifespan handler
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": "127.0.0.1",
        "server_header": False,
        # No access log: uvicorn's WebSocket lines carry the query string, which holds document tokens; and it logs
        # every WebSocket open and close at info. HAProxy logs each connection with the process that served it.
        "access_log": False,
        "log_level": "warning",
    }


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import uvicorn

    args = parse_arguments(argv)
    freeze_startup_heap([APPLICATION])
    uvicorn.run(APPLICATION, **uvicorn_options(args))


if __name__ == "__main__":
    main()
