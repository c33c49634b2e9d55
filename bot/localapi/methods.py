"""The Bot API methods: one coroutine per method, all listed in :data:`METHODS`.

Each handler takes a :class:`Call` and returns the ``result`` value of the
response (or a :class:`Reply` to add a ``description``), or raises
:class:`~bot.localapi.errors.ApiError`. Results have the JSON shapes the real
server returns, so python-telegram-bot's ``de_json`` accepts them.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from yarl import URL

from . import errors, media
from .errors import ApiError, bad_request
from .formatting import format_text, inline_keyboard, validate_reply_markup
from .params import Params, Upload
from .state import (
    ALL_UPDATE_TYPES,
    CHAT_ACTIONS,
    DEFAULT_ALLOWED_UPDATES,
    MAX_CAPTION_LENGTH,
    MAX_COMMAND_DESCRIPTION_LENGTH,
    MAX_COMMAND_LENGTH,
    MAX_COMMANDS,
    MAX_DOWNLOAD_SIZE,
    MAX_LONG_POLL_TIMEOUT,
    MAX_MEDIA_GROUP_SIZE,
    MAX_MESSAGE_LENGTH,
    MAX_PHOTO_ASPECT_RATIO,
    MAX_PHOTO_DIMENSIONS_SUM,
    MAX_SECRET_TOKEN_LENGTH,
    MAX_UPDATES_LIMIT,
    MIN_MEDIA_GROUP_SIZE,
    BotAccount,
    Chat,
    PollTicket,
    StoredFile,
    StoredMessage,
    Webhook,
    World,
    compact,
    now,
)
from .webhooks import LOCAL_WEBHOOK_HOSTS, WEBHOOK_SCHEMES, WebhookDispatcher

DEFAULT_WEBHOOK_MAX_CONNECTIONS = 40
DEFAULT_STICKER_SIDE = 512
DECLARED_PHOTO_SIZE = (4000, 3000)
"""Dimensions of a photo injected with a declared size and no bytes."""
MEDIA_GROUP_KINDS = frozenset({"photo", "video", "document", "audio"})
COMMAND_PATTERN = re.compile(rf"[a-z0-9_]{{1,{MAX_COMMAND_LENGTH}}}")
SECRET_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]*")
MAX_REACTIONS_IN_PRIVATE_CHAT = 11


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


# --- shared helpers ---------------------------------------------------------------
def _reply_markup(params: Params) -> dict[str, Any] | None:
    markup = params.decoded("reply_markup", errors.BAD_REPLY_MARKUP)
    return None if markup is None else validate_reply_markup(markup)


def _entities(params: Params, name: str) -> list[dict[str, Any]] | None:
    value = params.decoded(name, errors.BAD_ENTITIES_JSON)
    if value is not None and not isinstance(value, list):
        raise bad_request(errors.BAD_ENTITIES_JSON)
    return value


def _caption(params: Params) -> tuple[str | None, list[dict[str, Any]] | None]:
    raw = params.text("caption")
    if raw is None:
        return None, None
    caption, entities = format_text(
        raw,
        params.text("parse_mode"),
        _entities(params, "caption_entities"),
        MAX_CAPTION_LENGTH,
        errors.CAPTION_TOO_LONG,
    )
    return caption or None, entities


def _writable_chat(call: Call) -> Chat:
    chat = call.world.find_chat(call.bot, call.params.raw("chat_id"))
    if chat.user.blocked:
        raise ApiError(HTTPStatus.FORBIDDEN, errors.BOT_BLOCKED)
    return chat


def _reply_target(params: Params, chat: Chat) -> StoredMessage | None:
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


async def _add_bot_message(
    call: Call, kind: str, content: dict[str, Any], markup: dict[str, Any] | None
) -> StoredMessage:
    async with call.world.mutate():
        chat = _writable_chat(call)
        reply_to = _reply_target(call.params, chat)
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


def _existing_file(world: World, reference: str, kind: str) -> StoredFile:
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


def _set_allowed_updates(bot: BotAccount, allowed: Any) -> None:
    if not isinstance(allowed, list):
        return
    names = {str(name).lower() for name in allowed} & set(ALL_UPDATE_TYPES)
    bot.allowed_updates = frozenset(names) if names else DEFAULT_ALLOWED_UPDATES


async def store_photo(
    world: World,
    data: bytes | None,
    *,
    file_size: int | None = None,
    dimensions: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Store a photo in all its sizes; return the ``PhotoSize`` list.

    ``data`` may be ``None`` when only a (huge) ``file_size`` is declared.
    """
    if data is None:
        width, height = dimensions or DECLARED_PHOTO_SIZE
        sizes = media.photo_variant_sizes(width, height)
        # Smaller sizes get gray placeholder JPEGs; the declared largest has no bytes.
        blobs: list[bytes | None] = [
            *await asyncio.to_thread(media.placeholder_images, sizes[:-1]),
            None,
        ]
    else:
        found = media.image_size(data)
        if found is None:
            raise bad_request(errors.IMAGE_PROCESS_FAILED)
        width, height = found
        if (
            width + height > MAX_PHOTO_DIMENSIONS_SUM
            or max(width, height) > MAX_PHOTO_ASPECT_RATIO * min(width, height)
        ):
            raise bad_request(errors.PHOTO_INVALID_DIMENSIONS)
        sizes = media.photo_variant_sizes(width, height)
        blobs = list(
            await asyncio.to_thread(
                media.render_variants, data, sizes, world.settings.resize_photos
            )
        )
    variants = [(w, h, blob) for (w, h), blob in zip(sizes, blobs, strict=True)]
    async with world.mutate():
        return world.store_photo(variants, largest_file_size=file_size)


# --- getMe, logOut, close, getUpdates, webhooks -------------------------------------
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


# --- commands and bot settings -------------------------------------------------
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


# --- sending ------------------------------------------------------------------------
async def send_message(call: Call) -> dict[str, Any]:
    """Send a text message (HTML parse_mode is parsed into entities)."""
    params = call.params
    raw = params.text("text")
    if raw is None or not raw.strip():
        raise bad_request(errors.TEXT_EMPTY)
    text, entities = format_text(
        raw,
        params.text("parse_mode"),
        _entities(params, "entities"),
        MAX_MESSAGE_LENGTH,
        errors.MESSAGE_TOO_LONG,
    )
    if not text.strip():
        raise bad_request(errors.TEXT_EMPTY)
    markup = _reply_markup(params)
    message = await _add_bot_message(call, "text", {"text": text, "entities": entities}, markup)
    return message.payload


async def send_photo(call: Call) -> dict[str, Any]:
    """Send a photo: an uploaded image (stored in several sizes) or a photo file_id."""
    params = call.params
    caption, caption_entities = _caption(params)
    markup = _reply_markup(params)
    _writable_chat(call)
    source = params.file("photo")
    if source is None:
        raise bad_request(errors.NO_FILE_IN_REQUEST.format(field="photo"))
    if isinstance(source, Upload):
        sizes = await store_photo(call.world, source.data)
    else:
        sizes = _existing_file(call.world, source, "photo").photo_sizes
    content = {"photo": sizes, "caption": caption, "caption_entities": caption_entities}
    message = await _add_bot_message(call, "photo", content, markup)
    return message.payload


async def _stored_media(call: Call, kind: str, source: Upload | str, meta: Params) -> StoredFile:
    """The file for a media message: a new upload or an existing file_id."""
    if not isinstance(source, Upload):
        return _existing_file(call.world, source, kind)
    mime = source.content_type
    if mime == "application/octet-stream":
        mime = None
    details: dict[str, Any] = {
        "width": meta.integer("width"),
        "height": meta.integer("height"),
        "duration": meta.integer("duration"),
    }
    if kind == "sticker":
        default = (DEFAULT_STICKER_SIDE, DEFAULT_STICKER_SIDE)
        width, height = media.image_size(source.data) or default
        details.update(width=width, height=height, emoji=meta.text("emoji"))
    elif kind == "video_note":
        details["width"] = meta.integer("length")
    async with call.world.mutate():
        return call.world.store_file(
            kind, source.data, file_name=source.filename, mime_type=mime, **details
        )


def _media_sender(kind: str) -> Handler:
    async def send(call: Call) -> dict[str, Any]:
        params = call.params
        caption, caption_entities = _caption(params)
        markup = _reply_markup(params)
        _writable_chat(call)
        source = params.file(kind)
        if source is None:
            raise bad_request(errors.NO_FILE_IN_REQUEST.format(field=kind))
        stored = await _stored_media(call, kind, source, params)
        content = {kind: stored.to_json(), "caption": caption, "caption_entities": caption_entities}
        message = await _add_bot_message(call, kind, content, markup)
        return message.payload

    send.__name__ = f"send_{kind}"
    send.__doc__ = f"Send a {kind}: an uploaded file or an existing file_id."
    return send


send_document = _media_sender("document")
send_video = _media_sender("video")
send_voice = _media_sender("voice")
send_audio = _media_sender("audio")
send_sticker = _media_sender("sticker")
send_animation = _media_sender("animation")
send_video_note = _media_sender("video_note")


async def send_media_group(call: Call) -> list[dict[str, Any]]:
    """Send an album; ``media`` items point to uploads with ``attach://name`` or to file_ids."""
    params = call.params
    items = params.decoded("media", errors.BAD_MEDIA)
    count = len(items) if isinstance(items, list) else 0
    if not MIN_MEDIA_GROUP_SIZE <= count <= MAX_MEDIA_GROUP_SIZE:
        raise bad_request(errors.MEDIA_GROUP_SIZE)
    _writable_chat(call)
    contents = [await _media_group_item(call, item) for item in items]
    group_id = str(secrets.randbits(62))
    async with call.world.mutate():
        chat = _writable_chat(call)
        reply_to = _reply_target(params, chat)
        messages = [
            call.world.add_message(
                call.bot,
                chat,
                from_bot=True,
                kind=kind,
                content={**content, "media_group_id": group_id},
                reply_to=reply_to,
            )
            for kind, content in contents
        ]
    return [message.payload for message in messages]


async def _media_group_item(call: Call, item: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict) or item.get("type") not in MEDIA_GROUP_KINDS:
        kind = item.get("type") if isinstance(item, dict) else item
        raise bad_request(errors.MEDIA_GROUP_TYPE.format(kind=kind))
    kind = item["type"]
    reference = item.get("media")
    source = call.params.file_reference(reference) if isinstance(reference, str) else None
    if source is None:
        raise bad_request(errors.WRONG_FILE_ID)
    caption, entities = None, None
    if item.get("caption") is not None:
        caption, entities = format_text(
            str(item["caption"]),
            item.get("parse_mode"),
            item.get("caption_entities"),
            MAX_CAPTION_LENGTH,
            errors.CAPTION_TOO_LONG,
        )
    if kind == "photo":
        if isinstance(source, Upload):
            body: Any = await store_photo(call.world, source.data)
        else:
            body = _existing_file(call.world, source, "photo").photo_sizes
    else:
        body = (await _stored_media(call, kind, source, Params(item))).to_json()
    return kind, {kind: body, "caption": caption or None, "caption_entities": entities}


async def send_chat_action(call: Call) -> bool:
    """Record a chat action (typing, upload_photo, ...)."""
    action = call.params.text("action")
    if action not in CHAT_ACTIONS:
        raise bad_request(errors.WRONG_CHAT_ACTION)
    async with call.world.mutate():
        chat = _writable_chat(call)
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
    for key, value in changes.items():
        if value is None:
            message.payload.pop(key, None)
        else:
            message.payload[key] = value
    message.payload["edit_date"] = now()
    message.sent_reply_markup = markup
    return message.payload


async def edit_message_text(call: Call) -> dict[str, Any]:
    """Edit the text of a message the bot sent (omitting reply_markup removes the keyboard)."""
    params = call.params
    raw = params.text("text")
    if raw is None or not raw.strip():
        raise bad_request(errors.TEXT_EMPTY)
    text, entities = format_text(
        raw,
        params.text("parse_mode"),
        _entities(params, "entities"),
        MAX_MESSAGE_LENGTH,
        errors.MESSAGE_TOO_LONG,
    )
    markup = _reply_markup(params)
    async with call.world.mutate():
        message = _message_to_edit(call)
        if message.kind != "text":
            raise bad_request(errors.NO_TEXT_TO_EDIT)
        changes = {"text": text, "entities": entities, "reply_markup": inline_keyboard(markup)}
        return _apply_edit(message, changes, markup)


async def edit_message_caption(call: Call) -> dict[str, Any]:
    """Edit the caption of a media message the bot sent."""
    caption, entities = _caption(call.params)
    markup = _reply_markup(call.params)
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
    markup = _reply_markup(call.params)
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


# --- callback queries, files, chats ---------------------------------------------------------
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


async def get_file(call: Call) -> dict[str, Any]:
    """File info with ``file_path``; files over 20 MB cannot be downloaded."""
    file_id = call.params.text("file_id")
    if not file_id:
        raise bad_request(errors.FILE_ID_MISSING)
    stored = call.world.files.get(file_id)
    if stored is None:
        raise bad_request(errors.INVALID_FILE_ID)
    if stored.file_size > MAX_DOWNLOAD_SIZE:
        raise bad_request(errors.FILE_TOO_BIG)
    return stored.get_file_json()


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


METHODS: dict[str, Handler] = {
    "getMe": get_me,
    "logOut": log_out,
    "close": close,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "sendMessage": send_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "sendVideo": send_video,
    "sendVoice": send_voice,
    "sendAudio": send_audio,
    "sendSticker": send_sticker,
    "sendAnimation": send_animation,
    "sendVideoNote": send_video_note,
    "sendMediaGroup": send_media_group,
    "sendChatAction": send_chat_action,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "deleteMessages": delete_messages,
    "answerCallbackQuery": answer_callback_query,
    "getFile": get_file,
    "getChat": get_chat,
}
"""Bot API method name -> handler. Lookup is case-insensitive (see METHOD_NAMES)."""

METHOD_NAMES: dict[str, str] = {name.lower(): name for name in METHODS}
"""Lower-case method name -> canonical name."""
