"""One chat as a chat window shows it, with a long poll for changes (the web chat's feed)."""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from aiohttp import web

from ..bots import BotAccount
from ..chats import Chat
from ..keys import WORLD_KEY
from ..params import read_params
from ..protocol import DEFAULT_WAIT_TIMEOUT
from .base import describe, find_bot, find_chat, ok

MAX_FEED_TIMEOUT = 30.0
"""Longest wait of one ``chats/{id}/feed`` long poll, seconds."""
FEED_ANSWERS = 20
"""Callback answers (the newest) a feed snapshot carries."""


def _recent_answers(bot: BotAccount, chat: Chat) -> list[dict[str, Any]]:
    """The newest callback answers in ``chat``, oldest first."""
    return [a for a in bot.callback_answers if a.get("chat_id") == chat.id][-FEED_ANSWERS:]


def _feed_state(bot: BotAccount, chat: Chat) -> dict[str, Any]:
    """What a chat window shows, as plain data (the long poll compares its digest)."""
    answers = _recent_answers(bot, chat)
    return {
        "messages": [
            (m.message_id, m.deleted, m.payload, m.sent_reply_markup)
            for m in chat.messages.values()
        ],
        "actions": len(chat.actions),
        "answers": [a["callback_query_id"] for a in answers],
        "commands": _menu(bot, chat),
    }


def _menu(bot: BotAccount, chat: Chat) -> list[dict[str, str]]:
    language = chat.user.language_code or ""
    for scope_type in ("chat", "all_private_chats", "default"):
        for lang in dict.fromkeys((language, "")):
            for (scope, code), commands in bot.commands.items():
                scope_json = json.loads(scope)
                if scope_json.get("type") != scope_type or code != lang:
                    continue
                if scope_type == "chat" and str(scope_json.get("chat_id")) != str(chat.id):
                    continue
                return commands
    return []


def _digest(state: dict[str, Any]) -> str:
    blob = json.dumps(state, sort_keys=True, ensure_ascii=False, default=str).encode()
    return f"{zlib.crc32(blob):08x}{len(blob):x}"


async def chat_feed(request: web.Request) -> web.Response:
    """One chat as a chat window shows it, with a long poll for changes.

    ``since`` is the ``version`` of the snapshot the caller has: the answer
    waits (up to ``timeout`` seconds, at most :data:`MAX_FEED_TIMEOUT`) until
    anything in the chat differs from it (a new, edited or deleted message, a
    chat action, a callback answer, the command menu), then returns the whole
    snapshot: every message (``sender=all``, deleted ones flagged), the latest
    chat action, the newest callback answers, the command menu and ``now``
    (server time, unix seconds) to age the chat action against.
    """
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = find_bot(world, params)
    chat = find_chat(bot, request.match_info["chat_id"])
    since = params.text("since")
    if since:
        timeout = min(max(params.number("timeout", DEFAULT_WAIT_TIMEOUT), 0.0), MAX_FEED_TIMEOUT)
        await world.wait_until(lambda: _digest(_feed_state(bot, chat)) != since, timeout)
    origin = request.url.origin()
    answers = _recent_answers(bot, chat)
    return ok(
        version=_digest(_feed_state(bot, chat)),
        now=time.time(),
        bot=bot.me_json(),
        user=chat.user.to_json(),
        messages=[describe(m, origin) for m in chat.messages.values()],
        action=chat.actions[-1] if chat.actions else None,
        action_count=len(chat.actions),
        answers=answers,
        commands=_menu(bot, chat),
    )
