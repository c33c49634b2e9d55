"""What the control API's handlers share: errors, answers, lookups, message views, waiting."""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from yarl import URL

from ..bots import BotAccount
from ..chats import Chat, StoredMessage, User
from ..formatting import utf16_length
from ..params import Params, json_response
from ..protocol import DEFAULT_LANGUAGE_CODE, DEFAULT_USER_FIRST_NAME, DEFAULT_WAIT_TIMEOUT, compact
from ..state import World

COMMAND_PATTERN = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


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
def find_bot(world: World, params: Params) -> BotAccount:
    """The bot named by ``token`` (the first configured bot without one); 404 if unknown."""
    bot = world.bot(params.text("token"))
    if bot is None:
        raise ControlError(HTTPStatus.NOT_FOUND, "unknown bot token")
    return bot


def add_user(world: World, params: Params, user_id: int | None) -> User:
    """Create (or update) the user ``user_id`` from the name fields of ``params``."""
    return world.add_user(
        params.text("first_name") or DEFAULT_USER_FIRST_NAME,
        user_id=user_id,
        last_name=params.text("last_name"),
        username=params.text("username"),
        language_code=params.text("language_code", DEFAULT_LANGUAGE_CODE),
    )


def find_user(world: World, params: Params) -> User:
    """The user named by ``user_id`` / ``chat_id``, created if new (or a default user)."""
    user_id = params.integer("user_id", params.integer("chat_id"))
    if user_id is None and world.users:
        return next(iter(world.users.values()))
    if user_id is not None and user_id in world.users:
        return world.users[user_id]
    return add_user(world, params, user_id)


def find_chat(bot: BotAccount, chat_id: Any) -> Chat:
    """The bot's chat ``chat_id``; 404 if there is none."""
    try:
        chat = bot.chats.get(int(chat_id))
    except (TypeError, ValueError):
        chat = None
    if chat is None:
        raise ControlError(HTTPStatus.NOT_FOUND, f"no chat {chat_id} (create the user first)")
    return chat


def find_message(chat: Chat, message_id: int | None, *, from_bot: bool) -> StoredMessage:
    """A message of ``chat`` that is not deleted and was sent by the bot / the user."""
    message = chat.messages.get(message_id or 0)
    if message is None or message.deleted:
        raise ControlError(HTTPStatus.NOT_FOUND, f"no message {message_id} in chat {chat.id}")
    if message.from_bot != from_bot:
        who = "the bot" if from_bot else "the user"
        raise ControlError(HTTPStatus.BAD_REQUEST, f"message {message_id} was not sent by {who}")
    return message


# --- views ------------------------------------------------------------------------------
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


async def wait_for_items(
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
