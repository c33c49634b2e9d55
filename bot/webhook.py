"""Webhook mode on aiohttp (already a dependency; PTB's own webhook server needs tornado).

A small aiohttp server answers ``POST <path of WEBHOOK_URL>``: it checks
Telegram's ``X-Telegram-Bot-Api-Secret-Token`` header against the secret
(constant-time), turns the JSON into an ``Update`` and puts it on the
application's update queue, exactly what PTB's updater does. ``setWebhook`` is
called with the same secret at every start.
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from .settings import Settings

__all__ = ["SECRET_TOKEN_HEADER", "create_webhook_app", "webhook_server"]

log = logging.getLogger(__name__)

SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
APPLICATION_KEY = web.AppKey("application", Application)
SECRET_KEY = web.AppKey("secret", str)
#: An update is small; Telegram never sends more than this.
MAX_UPDATE_BYTES = 1024 * 1024


async def receive_update(request: web.Request) -> web.Response:
    given = request.headers.get(SECRET_TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[SECRET_KEY].encode()):
        return web.Response(status=HTTPStatus.FORBIDDEN)
    application = request.app[APPLICATION_KEY]
    try:
        data = await request.json()
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError):
        log.warning("webhook: a request that is not an update")
        return web.Response(status=HTTPStatus.BAD_REQUEST)
    await application.update_queue.put(update)
    return web.Response(status=HTTPStatus.OK)


def create_webhook_app(application: Application[Any, Any, Any, Any, Any, Any], path: str,
                       secret: str) -> web.Application:
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[APPLICATION_KEY] = application
    app[SECRET_KEY] = secret
    app.router.add_post(path, receive_update)
    return app


@asynccontextmanager
async def webhook_server(
    application: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    allowed_updates: Sequence[str],
) -> AsyncIterator[web.AppRunner]:
    """Listen on WEBHOOK_LISTEN:WEBHOOK_PORT, then point Telegram at WEBHOOK_URL."""
    secret = settings.effective_webhook_secret()
    runner = web.AppRunner(create_webhook_app(application, settings.webhook_path, secret),
                           access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.webhook_listen, settings.webhook_port)
        await site.start()
        await application.bot.set_webhook(
            settings.webhook_url, secret_token=secret, allowed_updates=list(allowed_updates)
        )
        log.info("webhook mode: listening on %s:%s%s", settings.webhook_listen,
                 settings.webhook_port, settings.webhook_path)
        yield runner
    finally:
        await runner.cleanup()
