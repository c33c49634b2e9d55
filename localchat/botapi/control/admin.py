"""The server as a whole: its bots, reset, users and injected faults."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from ..faults import Fault
from ..keys import WEBHOOKS_KEY, WORLD_KEY
from ..methods import METHOD_NAMES
from ..params import read_params
from .base import ControlError, add_user, ok


async def get_bots(request: web.Request) -> web.Response:
    """The configured bots, their webhook and pending update count."""
    world = request.app[WORLD_KEY]
    bots = [
        {
            "token": bot.token,
            "user": bot.me_json(),
            "pending_update_count": len(bot.updates),
            "webhook": bot.webhook.info_json(len(bot.updates)) if bot.webhook else None,
        }
        for bot in world.bots.values()
    ]
    return ok(bots=bots)


async def reset(request: web.Request) -> web.Response:
    """Forget everything but the bot accounts."""
    world = request.app[WORLD_KEY]
    dispatcher = request.app.get(WEBHOOKS_KEY)
    async with world.mutate():
        if dispatcher is not None:
            for bot in world.bots.values():
                dispatcher.stop(bot)
        world.reset()
    return ok()


async def create_user(request: web.Request) -> web.Response:
    """Create a user (and their private chat with every bot)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    async with world.mutate():
        user = add_user(world, params, params.integer("user_id", params.integer("id")))
    return ok(user=user.to_json(), chat=user.chat_json())


async def block_user(request: web.Request) -> web.Response:
    """``{"blocked": true}``: the user blocked the bot, sends answer 403."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    user_id = int(request.match_info["user_id"])
    async with world.mutate():
        user = world.users.get(user_id)
        if user is None:
            raise ControlError(HTTPStatus.NOT_FOUND, f"no user {user_id}")
        user.blocked = params.flag("blocked") if "blocked" in params else True
    return ok(user=user.to_json(), blocked=user.blocked)


# --- faults ------------------------------------------------------------------------------------
async def add_fault(request: web.Request) -> web.Response:
    """The next ``count`` calls of ``method`` answer ``status`` (see :class:`Fault`)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    method = (params.text("method") or "").strip()
    if method != "*" and method.lower() not in METHOD_NAMES:
        raise ControlError(HTTPStatus.BAD_REQUEST, f"unknown Bot API method {method!r}")
    fault = Fault(
        method=method.lower(),
        status=params.integer("status"),
        description=params.text("description"),
        retry_after=params.integer("retry_after"),
        migrate_to_chat_id=params.integer("migrate_to_chat_id"),
        delay=params.number("delay", 0.0),
        remaining=params.integer("count", 1) or 1,
        token=params.text("token"),
    )
    async with world.mutate():
        world.faults.append(fault)
    return ok(fault=fault.to_json())


async def list_faults(request: web.Request) -> web.Response:
    """Faults not used up yet."""
    return ok(faults=[fault.to_json() for fault in request.app[WORLD_KEY].faults])


async def clear_faults(request: web.Request) -> web.Response:
    """Remove every injected fault."""
    world = request.app[WORLD_KEY]
    async with world.mutate():
        world.faults.clear()
    return ok()
