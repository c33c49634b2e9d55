"""The control API (``/_control/...``): what tests use to play the user's side.

Inject updates (text, commands, photos, documents, stickers, videos, voice
messages, edits, button presses, duplicate deliveries), read what the bot did
(messages, chat actions, commands, callback answers, the raw call log), inject
faults, and wait for any of these without sleeping: every list endpoint takes
``count`` (and ``timeout``, default :data:`DEFAULT_WAIT_TIMEOUT`) and then
waits until at least ``count`` items exist, answering 408 if they do not.

Bodies are JSON, or multipart when uploading bytes (part ``file``); JSON bodies
may carry bytes as ``file_base64``. Every body may name the bot with ``token``
(default: the first configured token). Answers are ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from yarl import URL

from .errors import ApiError
from .formatting import has_callback_button, utf16_length
from .keys import WEBHOOKS_KEY, WORLD_KEY
from .methods import METHOD_NAMES, store_photo
from .params import Params, Upload, json_response, read_params
from .state import (
    DEFAULT_LANGUAGE_CODE,
    DEFAULT_USER_FIRST_NAME,
    MAX_DOWNLOAD_SIZE,
    BotAccount,
    Chat,
    Fault,
    StoredMessage,
    User,
    World,
    compact,
    now,
)

DEFAULT_WAIT_TIMEOUT = 5.0
MAX_FEED_TIMEOUT = 30.0
"""Longest wait of one ``chats/{id}/feed`` long poll, seconds."""
FEED_ANSWERS = 20
"""Callback answers (the newest) a feed snapshot carries."""
OVERSIZE_FILE_SIZE = MAX_DOWNLOAD_SIZE + 5 * 1024 * 1024
"""Declared size of a file injected with ``"oversize": true`` (25 MB)."""
DEFAULT_STICKER = {"width": 512, "height": 512, "emoji": "😀", "mime_type": "image/webp"}
COMMAND_PATTERN = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
FILE_KINDS = ("document", "video", "voice", "audio", "sticker", "animation")


class ControlError(Exception):
    """A control API failure; ``extra`` fields are added to the JSON answer."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.extra = extra

    def response(self) -> web.Response:
        """``{"ok": false, "error": ...}`` with the status."""
        return json_response({"ok": False, "error": self.error, **self.extra}, status=self.status)


def ok(**fields: Any) -> web.Response:
    """A successful control answer."""
    return json_response({"ok": True, **fields})


# --- lookups ----------------------------------------------------------------------------
def _bot(world: World, params: Params) -> BotAccount:
    bot = world.bot(params.text("token"))
    if bot is None:
        raise ControlError(HTTPStatus.NOT_FOUND, "unknown bot token")
    return bot


def _user(world: World, params: Params) -> User:
    """The user named by ``user_id`` / ``chat_id``, created if new (or a default user)."""
    user_id = params.integer("user_id", params.integer("chat_id"))
    if user_id is None and world.users:
        return next(iter(world.users.values()))
    if user_id is not None and user_id in world.users:
        return world.users[user_id]
    return world.add_user(
        params.text("first_name") or DEFAULT_USER_FIRST_NAME,
        user_id=user_id,
        last_name=params.text("last_name"),
        username=params.text("username"),
        language_code=params.text("language_code", DEFAULT_LANGUAGE_CODE),
    )


def _chat(bot: BotAccount, chat_id: Any) -> Chat:
    try:
        chat = bot.chats.get(int(chat_id))
    except (TypeError, ValueError):
        chat = None
    if chat is None:
        raise ControlError(HTTPStatus.NOT_FOUND, f"no chat {chat_id} (create the user first)")
    return chat


def _message(chat: Chat, message_id: int | None, *, from_bot: bool) -> StoredMessage:
    message = chat.messages.get(message_id or 0)
    if message is None or message.deleted:
        raise ControlError(HTTPStatus.NOT_FOUND, f"no message {message_id} in chat {chat.id}")
    if message.from_bot != from_bot:
        who = "the bot" if from_bot else "the user"
        raise ControlError(HTTPStatus.BAD_REQUEST, f"message {message_id} was not sent by {who}")
    return message


def command_entities(text: str) -> list[dict[str, Any]] | None:
    """``bot_command`` entities for the /commands in ``text``, as Telegram adds them."""
    entities = [
        {
            "type": "bot_command",
            "offset": utf16_length(text[: match.start()]),
            "length": utf16_length(match.group(0)),
        }
        for match in COMMAND_PATTERN.finditer(text)
    ]
    return entities or None


def describe(message: StoredMessage, origin: URL) -> dict[str, Any]:
    """A flat view of a message for tests, with a download URL for its file."""
    payload = message.payload
    view = compact(
        {
            "message_id": message.message_id,
            "date": payload["date"],
            "from_bot": message.from_bot,
            "kind": message.kind,
            "text": payload.get("text"),
            "caption": payload.get("caption"),
            "entities": payload.get("entities"),
            "caption_entities": payload.get("caption_entities"),
            "reply_markup": message.sent_reply_markup,
            "reply_to_message_id": (payload.get("reply_to_message") or {}).get("message_id"),
            "media_group_id": payload.get("media_group_id"),
            "edit_date": payload.get("edit_date"),
            "deleted": message.deleted,
        }
    )
    file_id = message.main_file_id()
    if file_id:
        view["file_id"] = file_id
        view["file_url"] = str(origin / "_control" / "files" / file_id)
        view[message.kind] = payload[message.kind]
    view["message"] = payload
    return view


async def _wait_for(
    world: World,
    params: Params,
    select: Callable[[], list[Any]],
    render: Callable[[list[Any]], Any],
) -> Any:
    """``render(select())``, first waiting for ``count`` items when asked."""
    count = params.integer("count")
    if count is not None:
        timeout = params.number("timeout", DEFAULT_WAIT_TIMEOUT)
        if not await world.wait_until(lambda: len(select()) >= count, timeout):
            items = select()
            raise ControlError(
                HTTPStatus.REQUEST_TIMEOUT,
                f"timed out after {timeout} s waiting for {count} items, got {len(items)}",
                items=render(items),
            )
    return render(select())


# --- world ----------------------------------------------------------------------------------
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
        user = world.add_user(
            params.text("first_name") or DEFAULT_USER_FIRST_NAME,
            user_id=params.integer("user_id", params.integer("id")),
            last_name=params.text("last_name"),
            username=params.text("username"),
            language_code=params.text("language_code", DEFAULT_LANGUAGE_CODE),
        )
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


# --- injecting updates ------------------------------------------------------------------------
async def _inject_message(
    world: World, params: Params, kind: str, content: dict[str, Any]
) -> web.Response:
    async with world.mutate():
        bot = _bot(world, params)
        user = _user(world, params)
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
        name = f"{name}@{_bot(world, params).user.username}"
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
        bot = _bot(world, params)
        chat = bot.chats[_user(world, params).id]
        message = _message(chat, params.integer("message_id"), from_bot=False)
        if message.kind == "text":
            text = params.text("text")
            if not text:
                raise ControlError(HTTPStatus.BAD_REQUEST, "text is required")
            message.payload.update(text=text)
            _set_or_drop(message.payload, "entities", command_entities(text))
        else:
            caption = _caption(params)
            for key, value in caption.items():
                _set_or_drop(message.payload, key, value)
        message.payload["edit_date"] = now()
        update = world.enqueue(bot, "edited_message", message.payload)
    return _injected(update, message)


def _set_or_drop(payload: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        payload.pop(key, None)
    else:
        payload[key] = value


async def inject_callback(request: web.Request) -> web.Response:
    """The user presses an inline button (``data``) under a bot message."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    data = params.text("data")
    if data is None:
        raise ControlError(HTTPStatus.BAD_REQUEST, "data (the button's callback_data) is required")
    async with world.mutate():
        bot = _bot(world, params)
        user = _user(world, params)
        message = _message(bot.chats[user.id], params.integer("message_id"), from_bot=True)
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
        bot = _bot(world, params)
        original = bot.history.get(params.integer("update_id") or 0)
        if original is None:
            raise ControlError(HTTPStatus.NOT_FOUND, f"no update {params.raw('update_id')}")
        update = world.requeue(bot, original, params.flag("keep_update_id"))
    return _injected(update)


# --- reading what the bot did --------------------------------------------------------------------
async def list_pending_updates(request: web.Request) -> web.Response:
    """Updates not yet confirmed by the bot (``count``/``timeout`` wait for them)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = _bot(world, params)
    updates = await _wait_for(
        world, params, lambda: list(bot.updates), lambda items: [u.to_json() for u in items]
    )
    return ok(updates=updates)


async def list_messages(request: web.Request) -> web.Response:
    """Messages of a chat, oldest first: the bot's by default (``sender=all``/``user``).

    ``after`` skips message ids up to it; ``count`` waits for that many.
    """
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    chat = _chat(_bot(world, params), request.match_info["chat_id"])
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
    messages = await _wait_for(
        world, params, select, lambda items: [describe(m, origin) for m in items]
    )
    return ok(messages=messages)


def _feed_state(bot: BotAccount, chat: Chat) -> dict[str, Any]:
    """What a chat window shows, as plain data (the long poll compares its digest)."""
    answers = [a for a in bot.callback_answers if a.get("chat_id") == chat.id][-FEED_ANSWERS:]
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
    bot = _bot(world, params)
    chat = _chat(bot, request.match_info["chat_id"])
    since = params.text("since")
    if since:
        timeout = min(max(params.number("timeout", DEFAULT_WAIT_TIMEOUT), 0.0), MAX_FEED_TIMEOUT)
        await world.wait_until(lambda: _digest(_feed_state(bot, chat)) != since, timeout)
    origin = request.url.origin()
    answers = [a for a in bot.callback_answers if a.get("chat_id") == chat.id][-FEED_ANSWERS:]
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


async def list_actions(request: web.Request) -> web.Response:
    """Chat actions the bot sent to a chat (``typing``, ``upload_photo`` ...)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    chat = _chat(_bot(world, params), request.match_info["chat_id"])
    actions = await _wait_for(world, params, lambda: list(chat.actions), list)
    return ok(actions=actions)


async def list_commands(request: web.Request) -> web.Response:
    """The bot's setMyCommands lists, per scope and language."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = _bot(world, params)

    def select() -> list[dict[str, Any]]:
        return [
            {"scope": json.loads(scope), "language_code": language, "commands": commands}
            for (scope, language), commands in bot.commands.items()
        ]

    return ok(commands=await _wait_for(world, params, select, list))


async def list_callback_answers(request: web.Request) -> web.Response:
    """answerCallbackQuery calls, oldest first."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    bot = _bot(world, params)
    answers = await _wait_for(world, params, lambda: list(bot.callback_answers), list)
    return ok(answers=answers)


async def list_calls(request: web.Request) -> web.Response:
    """The Bot API call log (``method`` filters, case-insensitive)."""
    world = request.app[WORLD_KEY]
    params = await read_params(request)
    method = (params.text("method") or "").lower()

    def select() -> list[dict[str, Any]]:
        return [c for c in world.calls if not method or c["method"].lower() == method]

    return ok(calls=await _wait_for(world, params, select, list))


async def download_file(request: web.Request) -> web.Response:
    """The bytes of a stored file, by file_id."""
    world = request.app[WORLD_KEY]
    stored = world.files.get(request.match_info["file_id"])
    if stored is None or stored.data is None:
        raise ControlError(HTTPStatus.NOT_FOUND, "no such file (or it has no bytes)")
    return web.Response(
        body=stored.data, content_type=stored.mime_type or "image/jpeg"
    )


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
