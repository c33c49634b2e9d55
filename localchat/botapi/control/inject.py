"""Playing the user: messages, commands, photos, files, edits, button presses, duplicates.

Each handler queues the update a real client's action would make and answers
with its ``update_id``, the update and, for messages, the stored message.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from ..chats import Chat, StoredMessage
from ..errors import ApiError
from ..formatting import has_callback_button, utf16_length
from ..keys import WORLD_KEY
from ..methods import store_photo
from ..params import Params, Upload, read_params
from ..protocol import MAX_DOWNLOAD_SIZE, now
from ..state import World
from .base import ControlError, command_entities, find_bot, find_message, find_user, ok

OVERSIZE_FILE_SIZE = MAX_DOWNLOAD_SIZE + 5 * 1024 * 1024
"""Declared size of a file injected with ``"oversize": true`` (25 MB)."""
DEFAULT_STICKER: dict[str, Any] = {"width": 512, "height": 512, "emoji": "😀", "mime_type": "image/webp"}


async def _inject_message(
    world: World, params: Params, kind: str, content: dict[str, Any]
) -> web.Response:
    async with world.mutate():
        bot = find_bot(world, params)
        user = find_user(world, params)
        chat = bot.chats[user.id]
        reply_id = params.integer("reply_to_message_id")
        reply_to = _message_any(chat, reply_id) if reply_id else None
        message = world.add_message(
            bot, chat, from_bot=False, kind=kind, content=content, reply_to=reply_to
        )
        update = world.enqueue(bot, "message", message.payload)
    return _injected(update, message)


def _message_any(chat: Chat, message_id: int) -> StoredMessage:
    message = chat.messages.get(message_id)
    if message is None:
        raise ControlError(HTTPStatus.NOT_FOUND, f"no message {message_id} in chat {chat.id}")
    return message


def _injected(update: Any, message: StoredMessage | None = None, **extra: Any) -> web.Response:
    fields: dict[str, Any] = {
        "update_id": update.update_id if update else None,
        "update": update.to_json() if update else None,
        **extra,
    }
    if message is not None:
        fields.update(
            chat_id=message.chat_id, message_id=message.message_id, message=message.payload
        )
    return ok(**fields)


def _caption(params: Params) -> dict[str, Any]:
    caption = params.text("caption")
    return {"caption": caption or None, "caption_entities": command_entities(caption or "")}


async def inject_text(request: web.Request) -> web.Response:
    """A text message from the user (/commands in it get bot_command entities)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    text = params.text("text")
    if not text:
        raise ControlError(HTTPStatus.BAD_REQUEST, "text is required")
    return await _inject_message(
        world, params, "text", {"text": text, "entities": command_entities(text)}
    )


async def inject_command(request: web.Request) -> web.Response:
    """``/command args`` from the user; ``mention: true`` adds ``@botusername``."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    name = (params.text("command") or "").lstrip("/")
    if not name:
        raise ControlError(HTTPStatus.BAD_REQUEST, "command is required")
    if params.flag("mention"):
        name = f"{name}@{find_bot(world, params).user.username}"
    args = params.text("args") or ""
    text = f"/{name} {args}" if args else f"/{name}"
    entity = {"type": "bot_command", "offset": 0, "length": utf16_length(f"/{name}")}
    return await _inject_message(world, params, "text", {"text": text, "entities": [entity]})


def _upload(params: Params) -> Upload | None:
    value = params.raw("file")
    return value if isinstance(value, Upload) else None


def _declared_size(params: Params) -> int | None:
    if params.flag("oversize"):
        return params.integer("file_size") or OVERSIZE_FILE_SIZE
    return params.integer("file_size")


async def inject_photo(request: web.Request) -> web.Response:
    """A photo from the user: image bytes (part ``file``), stored in Telegram's sizes.

    ``oversize: true`` (or ``file_size``) declares the largest size bigger than
    20 MB; the bytes are then optional.
    """
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    upload = _upload(params)
    file_size = _declared_size(params)
    if upload is None and file_size is None:
        raise ControlError(HTTPStatus.BAD_REQUEST, "send the image as part 'file' (or file_base64)")
    width, height = params.integer("width"), params.integer("height")
    dimensions = (width, height) if width and height else None
    try:
        sizes = await store_photo(
            world, upload.data if upload else None, file_size=file_size, dimensions=dimensions
        )
    except ApiError as exc:
        raise ControlError(HTTPStatus.BAD_REQUEST, exc.description) from None
    content = {"photo": sizes, **_caption(params), "media_group_id": params.text("media_group_id")}
    return await _inject_message(world, params, "photo", content)


async def _inject_file(request: web.Request, kind: str) -> web.Response:
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    upload = _upload(params)
    defaults = DEFAULT_STICKER if kind == "sticker" else {}
    details = {
        "width": params.integer("width", defaults.get("width")),
        "height": params.integer("height", defaults.get("height")),
        "duration": params.integer("duration"),
        "emoji": params.text("emoji", defaults.get("emoji")),
    }
    mime = params.text("mime_type") or (upload.content_type if upload else None)
    if mime == "application/octet-stream":
        mime = None
    declared = _declared_size(params)
    data = upload.data if upload else (None if declared is not None else b"")
    async with world.mutate():
        stored = world.store_file(
            kind,
            data,
            file_size=declared,
            file_name=params.text("file_name") or (upload.filename if upload else None),
            mime_type=mime or defaults.get("mime_type"),
            **details,
        )
    content = {kind: stored.to_json()}
    if kind != "sticker":
        content.update(_caption(params))
    return await _inject_message(world, params, kind, content)


def _file_injector(kind: str) -> Callable[[web.Request], Any]:
    async def inject(request: web.Request) -> web.Response:
        return await _inject_file(request, kind)

    inject.__name__ = f"inject_{kind}"
    inject.__doc__ = f"A {kind} from the user (bytes optional; file_size may be declared)."
    return inject


inject_document = _file_injector("document")
inject_video = _file_injector("video")
inject_voice = _file_injector("voice")
inject_audio = _file_injector("audio")
inject_sticker = _file_injector("sticker")
inject_animation = _file_injector("animation")


async def inject_edit(request: web.Request) -> web.Response:
    """The user edits one of their messages: an ``edited_message`` update."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    async with world.mutate():
        bot = find_bot(world, params)
        chat = bot.chats[find_user(world, params).id]
        message = find_message(chat, params.integer("message_id"), from_bot=False)
        if message.kind == "text":
            text = params.text("text")
            if not text:
                raise ControlError(HTTPStatus.BAD_REQUEST, "text is required")
            message.set_fields({"text": text, "entities": command_entities(text)})
        else:
            message.set_fields(_caption(params))
        message.payload["edit_date"] = now()
        update = world.enqueue(bot, "edited_message", message.payload)
    return _injected(update, message)


async def inject_callback(request: web.Request) -> web.Response:
    """The user presses an inline button (``data``) under a bot message."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    data = params.text("data")
    if data is None:
        raise ControlError(HTTPStatus.BAD_REQUEST, "data (the button's callback_data) is required")
    async with world.mutate():
        bot = find_bot(world, params)
        user = find_user(world, params)
        message = find_message(bot.chats[user.id], params.integer("message_id"), from_bot=True)
        if not has_callback_button(message.inline_markup, data):
            raise ControlError(
                HTTPStatus.BAD_REQUEST,
                f"message {message.message_id} has no inline button with callback_data {data!r}",
            )
        query = world.new_callback_query(bot, user, message, data)
        payload = {
            "id": query.id,
            "from": user.to_json(),
            "message": message.payload,
            "chat_instance": str(zlib.crc32(f"{bot.user.id}:{message.chat_id}".encode())),
            "data": data,
        }
        update = world.enqueue(bot, "callback_query", payload)
    return _injected(update, callback_query_id=query.id)


async def inject_duplicate(request: web.Request) -> web.Response:
    """Deliver an earlier update again: a new update_id unless ``keep_update_id``.

    With ``keep_update_id`` a polling bot only sees it if it has not confirmed
    that id yet; a webhook receives it in any case.
    """
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    async with world.mutate():
        bot = find_bot(world, params)
        original = bot.history.get(params.integer("update_id") or 0)
        if original is None:
            raise ControlError(HTTPStatus.NOT_FOUND, f"no update {params.raw('update_id')}")
        update = world.requeue(bot, original, params.flag("keep_update_id"))
    return _injected(update)
