"""What every Bot API method handler shares: the call, the reply and the common parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .. import errors
from ..bots import BotAccount
from ..chats import Chat, StoredMessage
from ..errors import ApiError, bad_request
from ..files import StoredFile
from ..formatting import format_text, inline_keyboard, validate_reply_markup
from ..params import Params
from ..protocol import MAX_CAPTION_LENGTH
from ..state import World
from ..webhooks import WebhookDispatcher


@dataclass
class Call:
    """One Bot API request being handled."""

    world: World
    bot: BotAccount
    params: Params
    webhooks: WebhookDispatcher | None = None


@dataclass(frozen=True)
class Reply:
    """A result with the optional ``description`` some methods return."""

    result: Any
    description: str | None = None


Handler = Callable[[Call], Awaitable[Any]]


def read_reply_markup(params: Params) -> dict[str, Any] | None:
    """The checked ``reply_markup`` parameter (any keyboard type), if sent."""
    markup = params.decoded("reply_markup", errors.BAD_REPLY_MARKUP)
    return None if markup is None else validate_reply_markup(markup)


def read_entities(params: Params, name: str) -> list[dict[str, Any]] | None:
    """An explicit entity list parameter (``entities``, ``caption_entities``), if sent."""
    value = params.decoded(name, errors.BAD_ENTITIES_JSON)
    if value is not None and not isinstance(value, list):
        raise bad_request(errors.BAD_ENTITIES_JSON)
    return value


def read_caption(params: Params) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The formatted ``caption`` and its entities (``None, None`` without one)."""
    raw = params.text("caption")
    if raw is None:
        return None, None
    text, found = format_text(
        raw,
        params.text("parse_mode"),
        read_entities(params, "caption_entities"),
        MAX_CAPTION_LENGTH,
        errors.CAPTION_TOO_LONG,
    )
    return text or None, found


def writable_chat(call: Call) -> Chat:
    """The chat named by ``chat_id``; 403 when the user blocked the bot."""
    chat = call.world.find_chat(call.bot, call.params.raw("chat_id"))
    if chat.user.blocked:
        raise ApiError(HTTPStatus.FORBIDDEN, errors.BOT_BLOCKED)
    return chat


def reply_target(params: Params, chat: Chat) -> StoredMessage | None:
    """The message a send replies to (``reply_parameters`` or ``reply_to_message_id``)."""
    reply = params.decoded("reply_parameters", errors.BAD_REPLY_PARAMETERS)
    reply = reply if isinstance(reply, dict) else {}
    message_id = reply.get("message_id") or params.integer("reply_to_message_id")
    if not message_id:
        return None
    target = chat.messages.get(int(message_id))
    if target is None or target.deleted:
        if reply.get("allow_sending_without_reply") or params.flag("allow_sending_without_reply"):
            return None
        raise bad_request(errors.REPLY_NOT_FOUND)
    return target


def _send_options(params: Params) -> dict[str, Any]:
    """Optional message fields echoed back by Telegram."""
    return {
        "has_protected_content": True if params.flag("protect_content") else None,
        "has_media_spoiler": True if params.flag("has_spoiler") else None,
        "show_caption_above_media": True if params.flag("show_caption_above_media") else None,
    }


async def add_bot_message(
    call: Call, kind: str, content: dict[str, Any], markup: dict[str, Any] | None
) -> StoredMessage:
    """Append what the bot sends to the chat of ``chat_id``, with the send options."""
    async with call.world.mutate():
        chat = writable_chat(call)
        reply_to = reply_target(call.params, chat)
        content = {**content, **_send_options(call.params), "reply_markup": inline_keyboard(markup)}
        return call.world.add_message(
            call.bot,
            chat,
            from_bot=True,
            kind=kind,
            content=content,
            sent_reply_markup=markup,
            reply_to=reply_to,
        )


def existing_file(world: World, reference: str, kind: str) -> StoredFile:
    """A file sent again by file_id (URLs cannot be fetched offline)."""
    stored = world.files.get(reference)
    if stored is None:
        raise bad_request(errors.WRONG_FILE_ID)
    if stored.kind != kind:
        raise bad_request(
            errors.WRONG_FILE_KIND.format(
                actual=stored.kind.capitalize(), expected=kind.capitalize()
            )
        )
    return stored
