"""Reading what the bot did: pending updates, messages, chat actions, commands, answers, calls, files.

Every list takes ``count`` (and ``timeout``) to wait until that many items exist.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

from ..chats import StoredMessage
from ..keys import WORLD_KEY
from ..params import read_params
from .base import ControlError, describe, find_bot, find_chat, ok, wait_for_items


async def list_pending_updates(request: web.Request) -> web.Response:
    """Updates not yet confirmed by the bot (``count``/``timeout`` wait for them)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = find_bot(world, params)
    updates = await wait_for_items(
        world, params, lambda: list(bot.updates), lambda items: [u.to_json() for u in items]
    )
    return ok(updates=updates)


async def list_messages(request: web.Request) -> web.Response:
    """Messages of a chat, oldest first: the bot's by default (``sender=all``/``user``).

    ``after`` skips message ids up to it; ``count`` waits for that many.
    """
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    chat = find_chat(find_bot(world, params), request.match_info["chat_id"])
    sender = params.text("sender", "bot")
    after = params.integer("after", 0) or 0

    def select() -> list[StoredMessage]:
        return [
            message
            for message in chat.messages.values()
            if message.message_id > after
            and (sender == "all" or message.from_bot == (sender == "bot"))
        ]

    origin = request.url.origin()
    messages = await wait_for_items(
        world, params, select, lambda items: [describe(m, origin) for m in items]
    )
    return ok(messages=messages)


async def list_actions(request: web.Request) -> web.Response:
    """Chat actions the bot sent to a chat (``typing``, ``upload_photo`` ...)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    chat = find_chat(find_bot(world, params), request.match_info["chat_id"])
    actions = await wait_for_items(world, params, lambda: list(chat.actions), list)
    return ok(actions=actions)


async def list_commands(request: web.Request) -> web.Response:
    """The bot's setMyCommands lists, per scope and language."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = find_bot(world, params)

    def select() -> list[dict[str, Any]]:
        return [
            {"scope": json.loads(scope), "language_code": language, "commands": commands}
            for (scope, language), commands in bot.commands.items()
        ]

    return ok(commands=await wait_for_items(world, params, select, list))


async def list_callback_answers(request: web.Request) -> web.Response:
    """answerCallbackQuery calls, oldest first."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = find_bot(world, params)
    answers = await wait_for_items(world, params, lambda: list(bot.callback_answers), list)
    return ok(answers=answers)


async def list_calls(request: web.Request) -> web.Response:
    """The Bot API call log (``method`` filters, case-insensitive)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    method = (params.text("method") or "").lower()

    def select() -> list[dict[str, Any]]:
        return [c for c in world.calls if not method or c["method"].lower() == method]

    return ok(calls=await wait_for_items(world, params, select, list))


async def download_file(request: web.Request) -> web.Response:
    """The bytes of a stored file, by file_id."""
    world = request.app[WORLD_KEY]
    stored = world.files.get(request.match_info["file_id"])
    if stored is None or stored.data is None:
        raise ControlError(HTTPStatus.NOT_FOUND, "no such file (or it has no bytes)")
    return web.Response(
        body=stored.data, content_type=stored.mime_type or "image/jpeg"
    )
