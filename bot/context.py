"""The bot's shared resources and the ``CallbackContext`` that hands them to callbacks.

:class:`Services` is created by ``build_application`` and lives in
``application.bot_data``; its ``start`` / ``stop`` / ``close`` are the
application's ``post_init`` / ``post_stop`` / ``post_shutdown`` hooks, so the
database, the inference client and the job worker open and close with the
application. Callbacks reach them as ``context.services``. The repeating jobs
(the reminder sweep) are scheduled by ``bot/app.py``, beside the handlers.
"""
from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, CallbackContext, ExtBot

from . import texts
from .inference_client import InferenceClient
from .jobs import JobWorker, RetryPolicy
from .settings import Settings
from .storage import Storage

__all__ = ["BOT_COMMANDS", "SERVICES_KEY", "BotContext", "Services"]

log = logging.getLogger(__name__)

SERVICES_KEY = "services"
#: The command menu (setMyCommands), in this order.
BOT_COMMANDS = ("start", "help", "history", "remind", "scalp", "face", "auto", "delete")


class Services:
    """Storage, inference client and job worker of one running bot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._storage: Storage | None = None
        self._inference: InferenceClient | None = None
        self._worker: JobWorker | None = None

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            raise RuntimeError("the application has not been started (post_init)")
        return self._storage

    @property
    def inference(self) -> InferenceClient:
        if self._inference is None:
            raise RuntimeError("the application has not been started (post_init)")
        return self._inference

    @property
    def worker(self) -> JobWorker:
        if self._worker is None:
            raise RuntimeError("the application has not been started (post_init)")
        return self._worker

    # --- application hooks ----------------------------------------------------------------

    async def start(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """post_init: open the database and the service client, resume jobs, set the menu."""
        s = self.settings
        self._storage = await Storage.open(s.database)  # a PostgreSQL URL or the SQLite file
        self._inference = InferenceClient(
            s.inference_url, api_key=s.inference_api_key, timeout=s.inference_timeout
        )
        await self._inference.start()
        self._worker = JobWorker(
            self._storage,
            self._inference,
            application.bot,
            concurrency=s.job_concurrency,
            policy=RetryPolicy(s.job_max_attempts, s.job_backoff_base, s.job_backoff_cap),
            notice_after=s.analyzing_notice_after,
        )
        await self._worker.start()
        await self.set_commands(application)
        log.info("bot started: %s", s)

    async def stop(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """post_stop: let the jobs in flight finish (briefly); the rest resume at the next start."""
        if self._worker is not None:
            await self._worker.stop()

    async def close(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """post_shutdown: close the service client and the database."""
        if self._worker is not None:
            await self._worker.stop()
        if self._inference is not None:
            await self._inference.close()
        if self._storage is not None:
            await self._storage.close()

    @staticmethod
    async def set_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        commands = [
            BotCommand(name, texts.render("command_description", command=name))
            for name in BOT_COMMANDS
        ]
        try:
            await application.bot.set_my_commands(commands)
        except TelegramError as exc:  # the menu is a nicety: never block the start on it
            log.warning("setMyCommands failed: %s", exc)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """``CallbackContext`` with ``services`` (the running bot's resources)."""

    @property
    def services(self) -> Services:
        return self.application.bot_data[SERVICES_KEY]
