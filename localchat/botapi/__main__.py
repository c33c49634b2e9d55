"""Run the local Bot API server: ``python -m localchat.botapi --port 8081 --token TOKEN``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .protocol import DEFAULT_TOKEN
from .server import serve
from .state import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m localchat.botapi", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free port)")
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        help=f"bot token to accept (repeatable; default {DEFAULT_TOKEN})",
    )
    parser.add_argument(
        "--control-secret",
        help="require this X-Control-Secret on /_control/ (default: a random one, which the "
        "web chat and LocalApiClient on this machine fetch from GET /_control/secret; a "
        "given one is not handed out: open the page as /chat/#secret=...)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        dest="allowed_hosts",
        default=[],
        help="also accept requests whose Host is this name (repeatable; default: loopback "
        "names only, plus --host when it is a specific non-loopback address)",
    )
    parser.add_argument(
        "--no-resize", action="store_true", help="do not make downscaled JPEGs of photos"
    )
    parser.add_argument(
        "--webhook-retry-delay", type=float, default=1.0, help="seconds between webhook retries"
    )
    parser.add_argument("--quiet", action="store_true", help="no access log")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Serve until interrupted."""
    settings = Settings(
        tokens=tuple(args.tokens or (DEFAULT_TOKEN,)),
        control_secret=args.control_secret,
        allowed_hosts=tuple(args.allowed_hosts),
        resize_photos=not args.no_resize,
        webhook_retry_delay=args.webhook_retry_delay,
    )
    async with serve(settings, args.host, args.port, access_log=not args.quiet) as server:
        print(f"Local Bot API server on {server.url}")
        print(f"  base_url:      {server.base_url}")
        print(f"  base_file_url: {server.base_file_url}")
        print(f"  control API:   {server.control_url}")
        if args.control_secret:
            print("  control secret: the one given (X-Control-Secret)")
        else:
            print(f"  control secret: random; GET {server.control_url}secret on this machine")
        for token in settings.tokens:
            print(f"  token:         {token}")
        sys.stdout.flush()
        await _until_signalled()


async def _until_signalled() -> None:
    """Wait for SIGINT or SIGTERM (background jobs may have SIGINT ignored)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
