"""The bot's interactive parts: answers to inline-button presses and the command menu."""

from __future__ import annotations

import json
import re
from typing import Any

from .. import errors
from ..errors import bad_request
from ..params import Params
from ..protocol import MAX_COMMAND_DESCRIPTION_LENGTH, MAX_COMMAND_LENGTH, MAX_COMMANDS, compact, now
from .base import Call

COMMAND_PATTERN = re.compile(rf"[a-z0-9_]{{1,{MAX_COMMAND_LENGTH}}}")


async def answer_callback_query(call: Call) -> bool:
    """Answer a callback query once; unknown or already answered ids fail like Telegram."""
    params = call.params
    query_id = params.text("callback_query_id") or ""
    async with call.world.mutate():
        query = call.bot.callback_queries.get(query_id)
        if query is None or query.answer is not None:
            raise bad_request(errors.QUERY_ID_INVALID)
        query.answer = compact(
            {
                "callback_query_id": query_id,
                "text": params.text("text"),
                "show_alert": params.flag("show_alert"),
                "url": params.text("url"),
                "cache_time": params.integer("cache_time"),
                "user_id": query.user_id,
                "chat_id": query.chat_id,
                "message_id": query.message_id,
                "data": query.data,
                "date": now(),
            }
        )
        call.bot.callback_answers.append(query.answer)
    return True


def _command_key(params: Params) -> tuple[str, str]:
    scope = params.decoded("scope", errors.BAD_COMMAND_SCOPE)
    scope = scope or {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request(errors.BAD_COMMAND_SCOPE)
    return json.dumps(scope, sort_keys=True), params.text("language_code", "") or ""


def _checked_commands(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise bad_request(errors.BAD_COMMANDS)
    if len(raw) > MAX_COMMANDS:
        raise bad_request(errors.BOT_COMMANDS_TOO_MUCH)
    commands = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request(errors.BAD_COMMAND)
        command = str(item.get("command", "")).removeprefix("/")
        description = str(item.get("description", "")).strip()
        if not COMMAND_PATTERN.fullmatch(command):
            raise bad_request(errors.BOT_COMMAND_INVALID)
        if not 1 <= len(description) <= MAX_COMMAND_DESCRIPTION_LENGTH:
            raise bad_request(errors.BOT_COMMAND_DESCRIPTION_INVALID)
        commands.append({"command": command, "description": description})
    return commands


async def set_my_commands(call: Call) -> bool:
    """Store the command list for a scope and language."""
    key = _command_key(call.params)
    commands = _checked_commands(
        call.params.decoded("commands", errors.BAD_COMMANDS)
    )
    async with call.world.mutate():
        call.bot.commands[key] = commands
    return True


async def get_my_commands(call: Call) -> list[dict[str, str]]:
    """The command list of exactly this scope and language (no fallback)."""
    return call.bot.commands.get(_command_key(call.params), [])


async def delete_my_commands(call: Call) -> bool:
    """Forget the command list of a scope and language."""
    key = _command_key(call.params)
    async with call.world.mutate():
        call.bot.commands.pop(key, None)
    return True
