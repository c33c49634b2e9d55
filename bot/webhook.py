"""Webhook mode on aiohttp (already a dependency; PTB's own webhook server needs tornado).

A small aiohttp server, PTB's "custom webhook bot" pattern:

* ``POST <path of WEBHOOK_URL>``: checks Telegram's ``X-Telegram-Bot-Api-Secret-Token``
  header against the secret (constant-time; 403 when missing or wrong), turns the JSON
  into an ``Update`` and puts it on the application's update queue, exactly what PTB's
  updater does. ``setWebhook`` is called with the same secret at every start.
* ``GET /healthz`` (:data:`HEALTH_PATH`): the readiness of this replica for a load
  balancer or Kubernetes probe, no secret needed and none shown. 200 when the application
  is running, its job worker is alive and the database answers a read within
  :data:`HEALTH_DATABASE_TIMEOUT_SECONDS`; 503 otherwise (a replica that cannot store an
  update should not be handed one: Telegram retries a refused delivery, while an update
  it was told was received would be lost). The body is small JSON::

      {"ok": true, "mode": "webhook", "storage": "postgresql",
       "checks": {"application": true, "worker": true, "database": true}}

  The inference service is deliberately not checked: photos wait in the durable queue
  while it is down, and it has its own probes.

:func:`bot.app.running` opens this server after ``Application.start()`` and closes it
before ``Application.stop()``, so every update answered with 200 is processed.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from .context import SERVICES_KEY, Services
from .settings import Settings
from .storage import Storage, is_postgres_url

__all__ = [
    "HEALTH_DATABASE_TIMEOUT_SECONDS",
    "HEALTH_PATH",
    "SECRET_TOKEN_HEADER",
    "create_webhook_app",
    "health",
    "webhook_server",
]

log = logging.getLogger(__name__)

SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: The readiness route (deploy/k8s/bot.yaml probes it).
HEALTH_PATH = "/healthz"
#: The health check's database read gives up after this long (keep it under the probe's
#: timeoutSeconds in deploy/k8s/bot.yaml).
HEALTH_DATABASE_TIMEOUT_SECONDS = 2.0
#: A user id Telegram never gives out: the health check reads it to reach the database.
_PROBE_USER_ID = 0
APPLICATION_KEY = web.AppKey("application", Application)
SECRET_KEY = web.AppKey("secret", str)
#: An update is small; Telegram never sends more than this.
MAX_UPDATE_BYTES = 1024 * 1024


async def receive_update(request: web.Request) -> web.Response:
    # aiohttp keeps a header's non-UTF-8 bytes as surrogates: compare the bytes as sent
    given = request.headers.get(SECRET_TOKEN_HEADER, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, request.app[SECRET_KEY].encode()):
        return web.Response(status=HTTPStatus.FORBIDDEN)
    application = request.app[APPLICATION_KEY]
    try:
        data = await request.json()
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not an update object")
        update = Update.de_json(data, application.bot)
    except Exception:  # noqa: BLE001 - any body that is not an update is the sender's error
        log.warning("webhook: a request that is not an update")
        return web.Response(status=HTTPStatus.BAD_REQUEST)
    await application.update_queue.put(update)
    return web.Response(status=HTTPStatus.OK)


async def health(application: Application[Any, Any, Any, Any, Any, Any]) -> dict[str, Any]:
    """The health report of this replica (what ``GET /healthz`` answers, as a dict)."""
    services: Services | None = application.bot_data.get(SERVICES_KEY)
    try:  # both exist once the application's post_init ran
        storage, worker = services.storage, services.worker  # type: ignore[union-attr]
    except (AttributeError, RuntimeError):
        storage = worker = None
    checks = {
        "application": application.running,
        "worker": worker is not None and worker.running,
        "database": storage is not None and await _database_answers(storage),
    }
    database = services.settings.database if services is not None else ""
    return {
        "ok": all(checks.values()),
        "mode": "webhook",
        "storage": "postgresql" if is_postgres_url(database) else "sqlite",
        "checks": checks,
    }


async def _database_answers(storage: Storage) -> bool:
    try:
        await asyncio.wait_for(storage.get_user(_PROBE_USER_ID), HEALTH_DATABASE_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001  (any failure means "not ready")
        log.warning("health: the database does not answer: %s", type(exc).__name__)
        return False
    return True


async def health_check(request: web.Request) -> web.Response:
    report = await health(request.app[APPLICATION_KEY])
    status = HTTPStatus.OK if report["ok"] else HTTPStatus.SERVICE_UNAVAILABLE
    return web.json_response(report, status=status, headers={"Cache-Control": "no-store"})


def create_webhook_app(application: Application[Any, Any, Any, Any, Any, Any], path: str,
                       secret: str) -> web.Application:
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[APPLICATION_KEY] = application
    app[SECRET_KEY] = secret
    app.router.add_post(path, receive_update)
    app.router.add_get(HEALTH_PATH, health_check)
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
        log.info("webhook mode: listening on %s:%s%s (health: GET %s)", settings.webhook_listen,
                 settings.webhook_port, settings.webhook_path, HEALTH_PATH)
        yield runner
    finally:
        await runner.cleanup()
