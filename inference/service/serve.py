"""Serving: ``python -m inference serve`` runs one service process, or ``--workers N``
processes on one port under the supervisor of ``workers.py``."""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
from typing import Any

from aiohttp import web

from .app import create_app
from .settings import Settings
from .workers import GRACEFUL_TIMEOUT_S, serve_workers

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def limit_malloc_arenas(n: int = 2) -> bool:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core) and
    rarely returns their memory; the decode/draw pool and the model thread then hold
    hundreds of MB after a burst. Two arenas keep the service's RSS near its working set
    (``MALLOC_ARENA_MAX`` in the environment still wins). Linux/glibc only; else a no-op."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-8, n))  # M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def serve(settings: Settings) -> int:
    """Serve until SIGTERM / SIGINT; the exit status."""
    if settings.workers > 1:
        return serve_workers(settings, settings.workers, serve_worker)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    limit_malloc_arenas()
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None)
    return 0


def serve_worker(settings: Settings, ready: Any) -> None:
    """One worker process: the whole service on its own ``SO_REUSEPORT`` socket; sets ``ready``
    once it serves (from then on the supervisor restarts it if it dies)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT.replace("%(name)s", f"%(name)s[{os.getpid()}]"))
    limit_malloc_arenas()
    asyncio.run(_serve_one(settings, ready))


async def _serve_one(settings: Settings, ready: Any) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=GRACEFUL_TIMEOUT_S - 5)
    await runner.setup()  # loads the models (cleanup_ctx)
    try:
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=True).start()
        ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()  # answers what is in flight, then stops the batcher
