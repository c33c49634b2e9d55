"""The application, assembled once: :func:`build_application`, and how it runs.

Everything the application does is wired here: the handlers
(``handlers.register``), the lifecycle hooks (``Services``) and the repeating
jobs of the JobQueue (:func:`schedule_jobs`: the reminder sweep). ::

    application = build_application(Settings.from_env())
    async with running(application):      # polling, or webhook when WEBHOOK_URL is set
        await stop_event.wait()

:func:`running` follows ``Application.run_polling``'s order (initialize,
post_init, updater, start ... stop, post_stop, shutdown, post_shutdown) but
inside an already running event loop, so ``python -m bot`` and the end-to-end
tests drive the application the same way. In webhook mode the webhook server
(``bot/webhook.py``) opens after ``start`` and closes before ``stop``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import NetworkError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    Defaults,
)

from . import handlers
from .context import SERVICES_KEY, BotContext, Services
from .limits import BOT_API_CONNECTION_POOL, MAX_CONCURRENT_UPDATES, POLL_TIMEOUT_SECONDS
from .ratelimit import create_rate_limiter
from .reminders import sweep_reminders
from .settings import Settings
from .webhook import webhook_server

__all__ = [
    "ALLOWED_UPDATES",
    "FIRST_REMINDER_SWEEP_SECONDS",
    "REMINDER_JOB_NAME",
    "PerUserUpdateProcessor",
    "build_application",
    "running",
    "schedule_jobs",
]

log = logging.getLogger(__name__)

#: The update types the bot handles (edits, reactions... are not requested).
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
#: Seconds the HTTP client waits for photo uploads to the Bot API.
MEDIA_WRITE_TIMEOUT = 60.0
#: Start-up: tries to reach the Bot API (getMe), the first wait, doubled each time.
STARTUP_ATTEMPTS = 5
STARTUP_RETRY_SECONDS = 1.0
#: The periodic reminder sweep's JobQueue name.
REMINDER_JOB_NAME = "reminder-sweep"
#: The first sweep runs this soon after start-up (reminders that fell due while the bot was
#: down go out at once). ``first`` becomes a time when the job is added, and a first run that
#: is already past when the scheduler starts waits a whole interval (the note on ``first`` in
#: PTB's ``JobQueue.run_repeating``): so the sweep is added in post_init, just before the
#: JobQueue starts, and ``first`` is not 0.
FIRST_REMINDER_SWEEP_SECONDS = 1.0

BotApplication = Application[Any, BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Updates of different users run concurrently; one user's run one at a time, in order.

    So two photos sent back to back become jobs in the order they were sent,
    while a slow handler of one user never holds up anyone else.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        key = self._key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    @staticmethod
    def _key(update: object) -> int | None:
        if isinstance(update, Update):
            if update.effective_user is not None:
                return update.effective_user.id
            if update.effective_chat is not None:
                return update.effective_chat.id
        return None

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def build_application(settings: Settings) -> BotApplication:
    """The whole bot: HTTP to the Bot API, flood limits, handlers, lifecycle hooks."""
    services = Services(settings)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .context_types(ContextTypes(context=BotContext))
        # Telegram's flood limits; shared by all replicas through PostgreSQL when it is the
        # database (bot/ratelimit.py), in this process with SQLite.
        .rate_limiter(create_rate_limiter(settings.database))
        .concurrent_updates(PerUserUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .connection_pool_size(BOT_API_CONNECTION_POOL)
        .media_write_timeout(MEDIA_WRITE_TIMEOUT)
        .post_init(_post_init)
        .post_stop(services.stop)
        .post_shutdown(services.close)
    )
    if settings.webhook_mode:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data[SERVICES_KEY] = services
    handlers.register(application)
    return application


def schedule_jobs(application: BotApplication, settings: Settings) -> None:
    """The JobQueue's repeating jobs: the reminder sweep (``bot/reminders.py``)."""
    if application.job_queue is None:  # python-telegram-bot installed without [job-queue]
        log.warning("no JobQueue: reminders are not sent")
        return
    application.job_queue.run_repeating(
        sweep_reminders, interval=settings.reminder_sweep_interval,
        first=FIRST_REMINDER_SWEEP_SECONDS, name=REMINDER_JOB_NAME,
    )


async def _post_init(application: BotApplication) -> None:
    """Open the services, then schedule the jobs (the JobQueue starts right after this)."""
    services: Services = application.bot_data[SERVICES_KEY]
    await services.start(application)
    schedule_jobs(application, services.settings)


@contextlib.asynccontextmanager
async def running(application: BotApplication) -> AsyncIterator[BotApplication]:
    """Run the bot (polling, or webhook when configured) for the duration of the block."""
    settings: Settings = application.bot_data[SERVICES_KEY].settings
    async with contextlib.AsyncExitStack() as stack:
        await _initialize(application)
        stack.push_async_callback(_shutdown, application)
        if application.post_init:
            await application.post_init(application)
        if application.updater is not None:  # build_application leaves it out in webhook mode
            await application.updater.start_polling(
                timeout=POLL_TIMEOUT_SECONDS,
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
        await application.start()
        stack.push_async_callback(_stop, application)
        if settings.webhook_mode:
            # Open only while the application runs, closed before it stops: an update that
            # got its 200 is never left behind in the queue (Telegram retries refused ones).
            await stack.enter_async_context(
                webhook_server(application, settings, ALLOWED_UPDATES)
            )
        yield application


async def _initialize(application: BotApplication) -> None:
    """``initialize()`` (getMe), retried while the Bot API cannot be reached yet."""
    delay = STARTUP_RETRY_SECONDS
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            await application.initialize()
            return
        except NetworkError as exc:  # not InvalidToken: a wrong token never heals
            if attempt == STARTUP_ATTEMPTS:
                raise
            log.warning("the Bot API is not reachable (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay *= 2


async def _stop(application: BotApplication) -> None:
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)


async def _shutdown(application: BotApplication) -> None:
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)
