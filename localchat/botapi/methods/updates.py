"""The bot's connection: getMe, logOut, close, getUpdates and the webhook methods."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from yarl import URL

from .. import errors
from ..bots import BotAccount, PollTicket, Webhook
from ..errors import ApiError, bad_request
from ..params import Upload
from ..protocol import (
    ALL_UPDATE_TYPES,
    DEFAULT_ALLOWED_UPDATES,
    MAX_LONG_POLL_TIMEOUT,
    MAX_SECRET_TOKEN_LENGTH,
    MAX_UPDATES_LIMIT,
)
from ..webhooks import LOCAL_WEBHOOK_HOSTS, WEBHOOK_SCHEMES
from .base import Call, Reply

DEFAULT_WEBHOOK_MAX_CONNECTIONS = 40
SECRET_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]*")


def _set_allowed_updates(bot: BotAccount, allowed: Any) -> None:
    if not isinstance(allowed, list):
        return
    names = {str(name).lower() for name in allowed} & set(ALL_UPDATE_TYPES)
    bot.allowed_updates = frozenset(names) if names else DEFAULT_ALLOWED_UPDATES


async def get_me(call: Call) -> dict[str, Any]:
    """The bot's own User object."""
    return call.bot.me_json()


async def log_out(call: Call) -> bool:
    """Accepted and ignored (there is no cloud server to log out of)."""
    return True


async def close(call: Call) -> bool:
    """Accepted and ignored."""
    return True


async def get_updates(call: Call) -> list[dict[str, Any]]:
    """Long polling; a newer long poll terminates an older one with 409, as Telegram does."""
    world, bot, params = call.world, call.bot, call.params
    offset = params.integer("offset", 0) or 0
    limit = params.integer("limit", MAX_UPDATES_LIMIT) or MAX_UPDATES_LIMIT
    limit = min(max(limit, 1), MAX_UPDATES_LIMIT)
    timeout = min(max(params.number("timeout"), 0.0), MAX_LONG_POLL_TIMEOUT)
    allowed = params.decoded("allowed_updates", errors.BAD_ALLOWED_UPDATES)
    async with world.mutate():
        if bot.webhook is not None:
            raise ApiError(HTTPStatus.CONFLICT, errors.CONFLICT_WEBHOOK_ACTIVE)
        _set_allowed_updates(bot, allowed)
        bot.confirm(offset)
        if bot.updates or timeout <= 0:
            return [update.to_json() for update in bot.updates[:limit]]
        bot.abort_poll(errors.CONFLICT_OTHER_GET_UPDATES)
        ticket = bot.active_poll = PollTicket()
    await world.wait_until(lambda: ticket.aborted is not None or bool(bot.updates), timeout)
    async with world.mutate():
        if bot.active_poll is ticket:
            bot.active_poll = None
        if ticket.aborted is not None:
            raise ApiError(HTTPStatus.CONFLICT, ticket.aborted)
        return [update.to_json() for update in bot.updates[:limit]]


def _check_webhook_url(url: str) -> None:
    try:
        parsed = URL(url)
    except ValueError:
        raise bad_request(errors.BAD_WEBHOOK_URL) from None
    if parsed.scheme not in WEBHOOK_SCHEMES or parsed.host not in LOCAL_WEBHOOK_HOSTS:
        raise bad_request(errors.BAD_WEBHOOK_URL)


def _check_secret_token(secret: str | None) -> None:
    if secret is None:
        return
    if len(secret) > MAX_SECRET_TOKEN_LENGTH:
        raise bad_request(errors.SECRET_TOKEN_TOO_LONG)
    if not SECRET_TOKEN_PATTERN.fullmatch(secret):
        raise bad_request(errors.SECRET_TOKEN_INVALID)


async def set_webhook(call: Call) -> Reply:
    """Set a webhook (127.0.0.1/localhost only); an empty url deletes it."""
    params = call.params
    url = params.text("url", "") or ""
    if not url:
        return await delete_webhook(call)
    _check_webhook_url(url)
    secret = params.text("secret_token")
    _check_secret_token(secret)
    allowed = params.decoded("allowed_updates", errors.BAD_ALLOWED_UPDATES)
    async with call.world.mutate():
        bot = call.bot
        if params.flag("drop_pending_updates"):
            bot.updates.clear()
        _set_allowed_updates(bot, allowed)
        bot.abort_poll(errors.CONFLICT_SET_WEBHOOK)
        bot.webhook = Webhook(
            url=url,
            secret_token=secret or None,
            max_connections=params.integer("max_connections", DEFAULT_WEBHOOK_MAX_CONNECTIONS)
            or DEFAULT_WEBHOOK_MAX_CONNECTIONS,
            ip_address=params.text("ip_address"),
            allowed_updates=sorted(bot.allowed_updates) if isinstance(allowed, list) else None,
            has_custom_certificate=isinstance(params.raw("certificate"), Upload),
        )
        if call.webhooks is not None:
            call.webhooks.start(bot)
    return Reply(True, "Webhook was set")


async def delete_webhook(call: Call) -> Reply:
    """Remove the webhook (and, if asked, the pending updates)."""
    async with call.world.mutate():
        bot = call.bot
        had_webhook = bot.webhook is not None
        bot.webhook = None
        if call.webhooks is not None:
            call.webhooks.stop(bot)
        if call.params.flag("drop_pending_updates"):
            bot.updates.clear()
    return Reply(True, "Webhook was deleted" if had_webhook else "Webhook is already deleted")


async def get_webhook_info(call: Call) -> dict[str, Any]:
    """WebhookInfo; ``url`` is empty when polling."""
    bot = call.bot
    if bot.webhook is None:
        pending = len(bot.updates)
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}
    return bot.webhook.info_json(len(bot.updates))
