"""The local Bot API server: app factory, route table and HTTP handlers.

::

    app = create_app(Settings(tokens=("123:ABC",)))
    web.run_app(app, host="127.0.0.1", port=8081)

    # or, in tests / scripts:
    async with serve(settings) as server:
        bot = telegram.Bot(token, base_url=server.base_url, base_file_url=server.base_file_url)

Routes:

* ``POST|GET /bot{token}/{method}``: the Bot API (method names case-insensitive);
* ``GET /file/bot{token}/{file_path}``: file downloads (paths from getFile);
* ``/_control/...``: the control API for tests, see :mod:`localchat.botapi.control`;
* ``GET /chat/`` (and ``/``): a web chat playing one user, see :mod:`localchat.webchat`.

Every request passes :mod:`.guard` first: loopback ``Host`` names only, no foreign
``Origin``, and on ``/_control/`` the control secret (random unless given) and JSON
bodies; anything else is refused with 403.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import aiohttp
from aiohttp import web

from .. import webchat
from . import errors, guard
from .control import ControlError, admin, feed, inject, read
from .errors import ApiError
from .guard import ACCESS_KEY, CONTROL_PREFIX
from .keys import SETTINGS_KEY, WEBHOOKS_KEY, WORLD_KEY
from .methods import METHOD_NAMES, METHODS, Call, Reply
from .params import Params, json_response, read_params
from .protocol import DEFAULT_MIME_TYPES, MAX_UPLOAD_SIZE
from .state import Settings, World
from .webhooks import WebhookDispatcher

REQUEST_OVERHEAD = 1024 * 1024
"""Room for the non-file fields of a maximal upload."""
LOOPBACK_FOR_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""The address :attr:`RunningServer.url` names when the server listens on all addresses."""
SHUTDOWN_TIMEOUT = 2.0
"""Seconds the runner waits for handlers on shutdown (long polls are woken first)."""

log = logging.getLogger(__name__)


def api_error_response(error: ApiError) -> web.Response:
    """A Bot API error body with its HTTP status."""
    return json_response(error.to_json(), status=error.status)


# --- Bot API ---------------------------------------------------------------------------
async def handle_bot_api(request: web.Request) -> web.Response:
    """Authenticate the token, find the method, apply faults, run it."""
    world = request.app[WORLD_KEY]
    token = request.match_info["token"]
    bot = world.bots.get(token)
    if bot is None:
        return api_error_response(ApiError(HTTPStatus.UNAUTHORIZED, errors.UNAUTHORIZED))
    name = METHOD_NAMES.get(request.match_info["method"].lower())
    if name is None:
        return api_error_response(ApiError(HTTPStatus.NOT_FOUND, errors.NOT_FOUND))
    params: Params | None = None
    try:
        params = await read_params(request)
        await _apply_fault(world, token, name)
        result = await METHODS[name](Call(world, bot, params, request.app.get(WEBHOOKS_KEY)))
    except ApiError as exc:
        await _log_call(world, bot.user.id, name, params, exc.status, exc.description)
        return api_error_response(exc)
    except Exception:  # a bug in the local server: answer like Telegram's 500, keep the trace
        log.exception("local Bot API method %s failed", name)
        error = ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, errors.INTERNAL_SERVER_ERROR)
        await _log_call(world, bot.user.id, name, params, error.status, error.description)
        return api_error_response(error)
    reply = result if isinstance(result, Reply) else Reply(result)
    await _log_call(world, bot.user.id, name, params, HTTPStatus.OK, reply.description)
    body: dict[str, Any] = {"ok": True, "result": reply.result}
    if reply.description:
        body["description"] = reply.description
    return json_response(body)


async def _apply_fault(world: World, token: str, method: str) -> None:
    async with world.mutate():
        fault = world.take_fault(token, method.lower())
    if fault is None:
        return
    if fault.delay:
        await world.wait_until(lambda: False, fault.delay)
    error = fault.error()
    if error is not None:
        raise error


async def _log_call(
    world: World,
    bot_id: int,
    method: str,
    params: Params | None,
    status: int,
    description: str | None,
) -> None:
    async with world.mutate():
        world.log_call(
            {
                "method": method,
                "bot_id": bot_id,
                "params": params.loggable() if params else {},
                "status": int(status),
                "description": description,
                "time": time.time(),
            }
        )


async def handle_file_download(request: web.Request) -> web.StreamResponse:
    """``GET /file/bot{token}/{file_path}``: the stored bytes."""
    world = request.app[WORLD_KEY]
    if request.match_info["token"] not in world.bots:
        return api_error_response(ApiError(HTTPStatus.UNAUTHORIZED, errors.UNAUTHORIZED))
    stored = world.files_by_path.get(request.match_info["file_path"])
    if stored is None or stored.data is None:
        return api_error_response(ApiError(HTTPStatus.NOT_FOUND, errors.NOT_FOUND))
    mime = stored.mime_type or DEFAULT_MIME_TYPES.get(stored.kind, "application/octet-stream")
    return web.Response(body=stored.data, content_type=mime)


# --- middleware and application ------------------------------------------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn control errors into JSON answers (:mod:`.guard` has checked the caller)."""
    if not request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ControlError as exc:
        return exc.response()
    except ApiError as exc:
        return ControlError(HTTPStatus.BAD_REQUEST, exc.description).response()


def setup_routes(app: web.Application) -> None:
    """Every route of the server, in one table."""
    c = CONTROL_PREFIX
    app.add_routes(
        [
            web.route("*", "/bot{token}/{method}", handle_bot_api),
            web.get("/file/bot{token}/{file_path:.+}", handle_file_download),
            web.get(guard.SECRET_PATH, guard.control_secret),
            web.get(c + "bots", admin.get_bots),
            web.post(c + "reset", admin.reset),
            web.post(c + "users", admin.create_user),
            web.post(c + "users/{user_id:-?\\d+}/block", admin.block_user),
            web.post(c + "updates/text", inject.inject_text),
            web.post(c + "updates/command", inject.inject_command),
            web.post(c + "updates/photo", inject.inject_photo),
            web.post(c + "updates/document", inject.inject_document),
            web.post(c + "updates/video", inject.inject_video),
            web.post(c + "updates/voice", inject.inject_voice),
            web.post(c + "updates/audio", inject.inject_audio),
            web.post(c + "updates/sticker", inject.inject_sticker),
            web.post(c + "updates/animation", inject.inject_animation),
            web.post(c + "updates/edit", inject.inject_edit),
            web.post(c + "updates/callback", inject.inject_callback),
            web.post(c + "updates/duplicate", inject.inject_duplicate),
            web.get(c + "updates", read.list_pending_updates),
            web.get(c + "chats/{chat_id:-?\\d+}/messages", read.list_messages),
            web.get(c + "chats/{chat_id:-?\\d+}/actions", read.list_actions),
            web.get(c + "chats/{chat_id:-?\\d+}/feed", feed.chat_feed),
            web.get(c + "commands", read.list_commands),
            web.get(c + "callback_answers", read.list_callback_answers),
            web.get(c + "calls", read.list_calls),
            web.get(c + "files/{file_id}", read.download_file),
            web.get(c + "faults", admin.list_faults),
            web.post(c + "faults", admin.add_fault),
            web.delete(c + "faults", admin.clear_faults),
        ]
    )
    webchat.add_routes(app)


async def webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the HTTP client session and the webhook delivery tasks."""
    async with aiohttp.ClientSession() as session:
        dispatcher = WebhookDispatcher(app[WORLD_KEY], session)
        app[WEBHOOKS_KEY] = dispatcher
        yield
        await dispatcher.close()


async def release_waiters(app: web.Application) -> None:
    """on_shutdown: end long polls and control waits so shutdown is immediate."""
    await app[WORLD_KEY].close()


def create_app(settings: Settings | None = None) -> web.Application:
    """The aiohttp application of a local Bot API server."""
    settings = settings or Settings()
    if not settings.tokens:
        raise ValueError("Settings.tokens must name at least one bot token")
    app = web.Application(
        client_max_size=MAX_UPLOAD_SIZE + REQUEST_OVERHEAD,
        middlewares=[guard.request_guard, control_errors],
    )
    app[SETTINGS_KEY] = settings
    app[ACCESS_KEY] = guard.access_for(settings)
    app.on_response_prepare.append(guard.secure_headers)
    app[WORLD_KEY] = World(settings)
    app.cleanup_ctx.append(webhook_delivery)
    app.on_shutdown.append(release_waiters)
    setup_routes(app)
    return app


# --- running it ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunningServer:
    """A started server and the URLs to give python-telegram-bot."""

    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://host:port`` (a loopback address when bound to all addresses)."""
        host = LOOPBACK_FOR_WILDCARD.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``Bot(base_file_url=...)``."""
        return f"{self.url}/file/bot"

    @property
    def chat_url(self) -> str:
        """The web chat page."""
        return f"{self.url}{webchat.CHAT_PATH}"

    @property
    def control_url(self) -> str:
        """Root of the control API."""
        return f"{self.url}{CONTROL_PREFIX}"

    @property
    def control_secret(self) -> str:
        """What ``/_control/`` calls send in ``X-Control-Secret`` (random unless configured)."""
        return self.app[ACCESS_KEY].secret

    @property
    def world(self) -> World:
        """The server's state (tests may inspect it directly)."""
        return self.app[WORLD_KEY]


@contextlib.asynccontextmanager
async def serve(
    settings: Settings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    access_log: bool = False,
) -> AsyncIterator[RunningServer]:
    """Run the server on ``host:port`` (0: a free port) for the duration of the block.

    A ``host`` that is neither loopback nor a wildcard address is added to the
    ``Host`` names the server accepts.
    """
    settings = settings or Settings()
    if host not in guard.WILDCARD_HOSTS and not guard.is_loopback(host.strip("[]")):
        settings = dataclasses.replace(settings, allowed_hosts=(*settings.allowed_hosts, host))
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield RunningServer(app, host, bound_port)
    finally:
        await runner.cleanup()
