"""Text messages and chats: sending, chat actions, editing, deleting, getChat."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..chats import StoredMessage
from ..errors import bad_request
from ..formatting import format_text, inline_keyboard
from ..params import Params
from ..protocol import CHAT_ACTIONS, MAX_MESSAGE_LENGTH, now
from .base import Call, add_bot_message, read_caption, read_entities, read_reply_markup, writable_chat

MAX_REACTIONS_IN_PRIVATE_CHAT = 11


def _message_text(params: Params) -> tuple[str, list[dict[str, Any]] | None]:
    """The ``text`` parameter formatted by ``parse_mode`` / ``entities``; 400 when empty."""
    raw = params.text("text")
    if raw is None or not raw.strip():
        raise bad_request(errors.TEXT_EMPTY)
    return format_text(
        raw,
        params.text("parse_mode"),
        read_entities(params, "entities"),
        MAX_MESSAGE_LENGTH,
        errors.MESSAGE_TOO_LONG,
    )


async def send_message(call: Call) -> dict[str, Any]:
    """Send a text message (HTML parse_mode is parsed into entities)."""
    params = call.params
    text, entities = _message_text(params)
    if not text.strip():
        raise bad_request(errors.TEXT_EMPTY)
    markup = read_reply_markup(params)
    message = await add_bot_message(call, "text", {"text": text, "entities": entities}, markup)
    return message.payload


async def send_chat_action(call: Call) -> bool:
    """Record a chat action (typing, upload_photo, ...)."""
    action = call.params.text("action")
    if action not in CHAT_ACTIONS:
        raise bad_request(errors.WRONG_CHAT_ACTION)
    async with call.world.mutate():
        chat = writable_chat(call)
        chat.actions.append({"action": action, "date": now()})
    return True


# --- editing and deleting -------------------------------------------------------------
def _message_to_edit(call: Call) -> StoredMessage:
    params = call.params
    if "inline_message_id" in params:
        raise bad_request(errors.INLINE_MESSAGES_UNSUPPORTED)
    message_id = params.integer("message_id")
    if message_id is None or "chat_id" not in params:
        raise bad_request(errors.MESSAGE_ID_MISSING)
    chat = call.world.find_chat(call.bot, params.raw("chat_id"))
    message = chat.messages.get(message_id)
    if message is None or message.deleted:
        raise bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
    if not message.from_bot:
        raise bad_request(errors.MESSAGE_CANT_BE_EDITED)
    return message


def _apply_edit(
    message: StoredMessage, changes: dict[str, Any], markup: dict[str, Any] | None
) -> dict[str, Any]:
    unchanged = all(message.payload.get(key) == value for key, value in changes.items())
    if unchanged:
        raise bad_request(errors.MESSAGE_NOT_MODIFIED)
    message.set_fields(changes)
    message.payload["edit_date"] = now()
    message.sent_reply_markup = markup
    return message.payload


async def edit_message_text(call: Call) -> dict[str, Any]:
    """Edit the text of a message the bot sent (omitting reply_markup removes the keyboard)."""
    params = call.params
    text, entities = _message_text(params)
    markup = read_reply_markup(params)
    async with call.world.mutate():
        message = _message_to_edit(call)
        if message.kind != "text":
            raise bad_request(errors.NO_TEXT_TO_EDIT)
        changes = {"text": text, "entities": entities, "reply_markup": inline_keyboard(markup)}
        return _apply_edit(message, changes, markup)


async def edit_message_caption(call: Call) -> dict[str, Any]:
    """Edit the caption of a media message the bot sent."""
    caption, entities = read_caption(call.params)
    markup = read_reply_markup(call.params)
    async with call.world.mutate():
        message = _message_to_edit(call)
        if message.kind == "text":
            raise bad_request(errors.NO_CAPTION_TO_EDIT)
        changes = {
            "caption": caption,
            "caption_entities": entities,
            "reply_markup": inline_keyboard(markup),
        }
        return _apply_edit(message, changes, markup)


async def edit_message_reply_markup(call: Call) -> dict[str, Any]:
    """Replace (or, when omitted, remove) the inline keyboard of a bot message."""
    markup = read_reply_markup(call.params)
    async with call.world.mutate():
        message = _message_to_edit(call)
        return _apply_edit(message, {"reply_markup": inline_keyboard(markup)}, markup)


async def delete_message(call: Call) -> bool:
    """Delete a message of the chat."""
    async with call.world.mutate():
        chat = call.world.find_chat(call.bot, call.params.raw("chat_id"))
        message = chat.messages.get(call.params.integer("message_id") or 0)
        if message is None or message.deleted:
            raise bad_request(errors.MESSAGE_TO_DELETE_NOT_FOUND)
        message.deleted = True
    return True


async def delete_messages(call: Call) -> bool:
    """Delete several messages; missing ones are skipped."""
    ids = call.params.decoded("message_ids", errors.BAD_MESSAGE_IDS)
    async with call.world.mutate():
        chat = call.world.find_chat(call.bot, call.params.raw("chat_id"))
        for message_id in ids if isinstance(ids, list) else []:
            message = chat.messages.get(int(message_id))
            if message is not None:
                message.deleted = True
    return True


# --- chats ---------------------------------------------------------------------------------
async def get_chat(call: Call) -> dict[str, Any]:
    """ChatFullInfo of a private chat."""
    chat = call.world.find_chat(call.bot, call.params.raw("chat_id"))
    gift_types = dict.fromkeys(
        (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        ),
        True,
    )
    return {
        **chat.user.chat_json(),
        "accent_color_id": 0,
        "max_reaction_count": MAX_REACTIONS_IN_PRIVATE_CHAT,
        "accepted_gift_types": gift_types,
    }
