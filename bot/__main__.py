"""``python -m bot``: run the bot until SIGINT / SIGTERM (configuration: ``bot/settings.py``).

The whole product on one machine, with a local Bot API server and its web chat, is
``scripts/start.sh`` (outside this package).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .app import build_application, running
from .settings import Settings, SettingsError, configure_logging

log = logging.getLogger("bot")

EXIT_CONFIG_ERROR = 2


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    application = build_application(settings)
    async with running(application):
        log.info("running (%s); stop with Ctrl+C", "webhook" if settings.webhook_mode else "polling")
        await stop.wait()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m bot", description="Run the Telegram bot (configured by environment variables only).",
        epilog="The whole product on one machine, with a local web chat: python -m localchat",
    ).parse_args(argv)  # no options: an argument is a mistake (exit status 2), not ignored
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(settings)
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
