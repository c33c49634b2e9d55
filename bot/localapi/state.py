"""The in-memory world of the local Bot API server.

One :class:`World` holds everything: the bot accounts (by token), users, one
private chat per (bot, user) with its messages, stored files (by ``file_id``
and ``file_path``, with their bytes), each bot's update queue, registered
commands, callback queries, the log of Bot API calls and injected faults.

Concurrency: the server is single-threaded asyncio. Every change happens inside
``async with world.mutate():`` (which holds ``world.changed``, an
:class:`asyncio.Condition`, and wakes all waiters on exit); waiters (long
polling, webhook delivery, the control API's "wait until" reads) use
:meth:`World.wait_until`. The methods below that change state are synchronous
and must be called while holding that lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import mimetypes
import secrets
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from . import errors
from .errors import ApiError

# --- Limits of the real Bot API -------------------------------------------------
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
"""getFile refuses files larger than this ("file is too big")."""
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
"""Largest multipart upload accepted (413 above)."""
MAX_PHOTO_DIMENSIONS_SUM = 10_000
MAX_PHOTO_ASPECT_RATIO = 20
MAX_UPDATES_LIMIT = 100
MAX_LONG_POLL_TIMEOUT = 50
MAX_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION_LENGTH = 256
MAX_SECRET_TOKEN_LENGTH = 256
MAX_CALLBACK_DATA_BYTES = 64
MIN_MEDIA_GROUP_SIZE = 2
MAX_MEDIA_GROUP_SIZE = 10

# --- Local server choices ------------------------------------------------------
DEFAULT_VIDEO_SIZE = (1280, 720)
"""Width and height reported for videos/animations sent without dimensions."""
DEFAULT_VIDEO_NOTE_LENGTH = 240
DEFAULT_TOKEN = "123456:LOCAL-test-token-for-the-local-bot-api"
MAX_CALL_LOG = 2000
FIRST_USER_ID = 1_000_001
FIRST_UPDATE_ID = 1
FIRST_MESSAGE_ID = 1
FIRST_CALLBACK_QUERY_ID = 4_200_000_000_000_000_001
DEFAULT_USER_FIRST_NAME = "테스트"
DEFAULT_LANGUAGE_CODE = "ko"

ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
DEFAULT_ALLOWED_UPDATES = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
FILE_FOLDERS = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "voice": "voice",
    "audio": "music",
    "sticker": "stickers",
    "animation": "animations",
    "video_note": "video_notes",
}
FILE_ID_PREFIXES = {
    "photo": "AgACAgIAAxk",
    "document": "BQACAgIAAxk",
    "video": "BAACAgIAAxk",
    "voice": "AwACAgIAAxk",
    "audio": "CQACAgIAAxk",
    "sticker": "CAACAgIAAxk",
    "animation": "CgACAgIAAxk",
    "video_note": "DQACAgIAAxk",
}
DEFAULT_MIME_TYPES = {
    "photo": "image/jpeg",
    "document": "application/octet-stream",
    "video": "video/mp4",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "sticker": "image/webp",
    "animation": "video/mp4",
    "video_note": "video/mp4",
}


def now() -> int:
    """Current time as Telegram dates it: unix seconds."""
    return int(time.time())


def compact(mapping: dict[str, Any]) -> dict[str, Any]:
    """``mapping`` without the ``None`` values (Telegram omits absent fields)."""
    return {key: value for key, value in mapping.items() if value is not None}


@dataclass(frozen=True)
class Settings:
    """Configuration of one local Bot API server."""

    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    """Bot tokens the server accepts; the first is the control API's default bot."""
    control_secret: str | None = None
    """When set, control API calls must send it in the ``X-Control-Secret`` header."""
    resize_photos: bool = True
    """Make real downscaled JPEGs for the smaller photo sizes (needs OpenCV)."""
    webhook_timeout: float = 10.0
    """Seconds to wait for the webhook to answer one update."""
    webhook_retry_delay: float = 1.0
    """Seconds between attempts after a failed webhook delivery."""


def bot_id_from_token(token: str) -> int:
    """The bot's user id: the number before ``:`` in the token (else a hash)."""
    prefix = token.split(":", 1)[0]
    return int(prefix) if prefix.isdigit() else zlib.crc32(token.encode()) or 1


@dataclass
class User:
    """A Telegram user (or the bot itself when ``is_bot``)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    blocked: bool = False
    """The user blocked the bot: sends to them fail with 403."""

    def to_json(self) -> dict[str, Any]:
        """The ``User`` object."""
        return compact(
            {
                "id": self.id,
                "is_bot": self.is_bot,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "language_code": self.language_code,
            }
        )

    def chat_json(self) -> dict[str, Any]:
        """The ``Chat`` object of the private chat with this user."""
        return compact(
            {
                "id": self.id,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "type": "private",
            }
        )


@dataclass
class StoredFile:
    """A file the server knows, with its bytes unless only a size was declared."""

    file_id: str
    file_unique_id: str
    kind: str
    file_path: str
    data: bytes | None
    file_size: int
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    emoji: str | None = None
    photo_sizes: list[dict[str, Any]] = field(default_factory=list)
    """For photos: the whole PhotoSize list this size belongs to."""

    def to_json(self) -> dict[str, Any]:
        """The Bot API object for this file (PhotoSize, Document, Video, ...)."""
        base = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        size = {"file_size": self.file_size}
        if self.kind == "photo":
            return {**base, **size, "width": self.width, "height": self.height}
        if self.kind == "sticker":
            return compact(
                {
                    **base,
                    "type": "regular",
                    "width": self.width,
                    "height": self.height,
                    "is_animated": False,
                    "is_video": self.mime_type == "video/webm",
                    "emoji": self.emoji,
                    **size,
                }
            )
        extra: dict[str, Any] = {"file_name": self.file_name, "mime_type": self.mime_type}
        if self.kind in ("video", "animation"):
            extra.update(
                width=self.width or DEFAULT_VIDEO_SIZE[0],
                height=self.height or DEFAULT_VIDEO_SIZE[1],
                duration=self.duration or 0,
            )
        elif self.kind in ("voice", "audio"):
            extra.update(duration=self.duration or 0)
            if self.kind == "voice":
                extra.pop("file_name")
        elif self.kind == "video_note":
            length = self.width or DEFAULT_VIDEO_NOTE_LENGTH
            extra = {"length": length, "duration": self.duration or 0}
        return compact({**base, **extra, **size})

    def get_file_json(self) -> dict[str, Any]:
        """The ``File`` object returned by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    """One message of a chat, as Telegram's ``Message`` JSON plus bookkeeping."""

    chat_id: int
    message_id: int
    from_bot: bool
    kind: str
    payload: dict[str, Any]
    sent_reply_markup: dict[str, Any] | None = None
    """The reply_markup the bot sent (any keyboard type), for the control API."""
    deleted: bool = False

    @property
    def inline_markup(self) -> dict[str, Any] | None:
        """The inline keyboard attached to the message, if any."""
        return self.payload.get("reply_markup")

    def main_file_id(self) -> str | None:
        """file_id of the message's media (the largest photo size)."""
        if self.kind == "photo":
            return self.payload["photo"][-1]["file_id"]
        media = self.payload.get(self.kind)
        return media.get("file_id") if isinstance(media, dict) else None


@dataclass
class Chat:
    """A private chat between one bot and one user."""

    user: User
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    next_message_id: int = FIRST_MESSAGE_ID

    @property
    def id(self) -> int:
        """Private chats have the user's id."""
        return self.user.id

    def bot_messages(self, after: int = 0) -> list[StoredMessage]:
        """Messages the bot sent (deleted ones included), oldest first."""
        return [m for m in self.messages.values() if m.from_bot and m.message_id > after]


@dataclass
class Update:
    """One queued update."""

    update_id: int
    kind: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The ``Update`` object."""
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass
class Webhook:
    """A bot's webhook configuration and delivery status."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    allowed_updates: list[str] | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None
    delivered: int = 0

    def info_json(self, pending: int) -> dict[str, Any]:
        """The ``WebhookInfo`` object."""
        return compact(
            {
                "url": self.url,
                "has_custom_certificate": self.has_custom_certificate,
                "pending_update_count": pending,
                "ip_address": self.ip_address,
                "last_error_date": self.last_error_date,
                "last_error_message": self.last_error_message,
                "max_connections": self.max_connections,
                "allowed_updates": self.allowed_updates,
            }
        )


@dataclass
class PollTicket:
    """A getUpdates long poll in progress; another poll or setWebhook aborts it."""

    aborted: str | None = None


@dataclass
class CallbackQuery:
    """A callback query created by the control API, and the bot's answer."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


@dataclass
class Fault:
    """An injected failure: the next ``remaining`` calls of ``method`` fail."""

    method: str
    """Lower-case Bot API method name, or ``*`` for any method."""
    status: int | None
    description: str | None = None
    retry_after: int | None = None
    migrate_to_chat_id: int | None = None
    delay: float = 0.0
    remaining: int = 1
    token: str | None = None

    def matches(self, token: str, method: str) -> bool:
        """Whether this fault applies to a call of ``method`` by ``token``."""
        return (
            self.remaining > 0
            and self.method in ("*", method)
            and (self.token is None or self.token == token)
        )

    def error(self) -> ApiError | None:
        """The error to answer with (``None`` for a delay-only fault)."""
        if self.status is None or self.status < HTTPStatus.BAD_REQUEST:
            return None
        parameters: dict[str, Any] = {}
        retry = self.retry_after
        if self.status == HTTPStatus.TOO_MANY_REQUESTS and retry is None:
            retry = 1
        if retry is not None:
            parameters["retry_after"] = retry
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        description = self.description or (
            errors.MIGRATED
            if self.migrate_to_chat_id is not None
            else errors.default_description(self.status, retry)
        )
        return ApiError(self.status, description, parameters or None)

    def to_json(self) -> dict[str, Any]:
        """A description of the fault for the control API."""
        return compact(
            {
                "method": self.method,
                "status": self.status,
                "description": self.description,
                "retry_after": self.retry_after,
                "migrate_to_chat_id": self.migrate_to_chat_id,
                "delay": self.delay or None,
                "remaining": self.remaining,
                "token": self.token,
            }
        )


@dataclass
class BotAccount:
    """One bot: its identity, chats, update queue and settings."""

    token: str
    user: User
    chats: dict[int, Chat] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    """Updates not yet confirmed by getUpdates or delivered to the webhook."""
    history: dict[int, Update] = field(default_factory=dict)
    """Every update ever queued, for duplicate delivery."""
    allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
    webhook: Webhook | None = None
    active_poll: PollTicket | None = None
    commands: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQuery] = field(default_factory=dict)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, token: str) -> BotAccount:
        """A bot account for ``token`` with a generated name."""
        bot_id = bot_id_from_token(token)
        user = User(
            id=bot_id, first_name=f"Local Bot {bot_id}", username=f"local_{bot_id}_bot", is_bot=True
        )
        return cls(token=token, user=user)

    def me_json(self) -> dict[str, Any]:
        """The getMe result."""
        return {
            **self.user.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def confirm(self, offset: int) -> None:
        """Forget updates as getUpdates' ``offset`` asks (negative: keep the last ones)."""
        if offset < 0:
            del self.updates[: max(0, len(self.updates) + offset)]
        elif offset > 0:
            self.updates = [u for u in self.updates if u.update_id >= offset]

    def drop_update(self, update_id: int) -> None:
        """Remove one update from the queue (webhook delivery succeeded)."""
        self.updates = [u for u in self.updates if u.update_id != update_id]

    def reset(self) -> None:
        """Forget chats, updates, the webhook, commands and callback queries."""
        self.chats.clear()
        self.updates.clear()
        self.history.clear()
        self.allowed_updates = DEFAULT_ALLOWED_UPDATES
        self.webhook = None
        self.commands.clear()
        self.callback_queries.clear()
        self.callback_answers.clear()

    def abort_poll(self, reason: str) -> None:
        """Make the running long poll, if any, fail with 409 ``reason``."""
        if self.active_poll is not None and self.active_poll.aborted is None:
            self.active_poll.aborted = reason
        self.active_poll = None


class World:
    """All state of one server; see the module docstring for the locking rule."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.changed = asyncio.Condition()
        self.closing = False
        self.bots: dict[str, BotAccount] = {
            token: BotAccount.create(token) for token in settings.tokens
        }
        self.users: dict[int, User] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.faults: list[Fault] = []
        self.calls: deque[dict[str, Any]] = deque(maxlen=MAX_CALL_LOG)
        self._user_ids = itertools.count(FIRST_USER_ID)
        self._update_ids = itertools.count(FIRST_UPDATE_ID)
        self._file_numbers = itertools.count(1)
        self._callback_ids = itertools.count(FIRST_CALLBACK_QUERY_ID)

    # --- synchronisation ------------------------------------------------------
    @contextlib.asynccontextmanager
    async def mutate(self) -> AsyncIterator[World]:
        """Hold the state lock; wake every waiter when the block ends."""
        async with self.changed:
            try:
                yield self
            finally:
                self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``predicate()``; return its final value.

        Returns early (with the predicate's value) when the server shuts down.
        """
        async with self.changed:
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await self.changed.wait_for(lambda: self.closing or predicate())
            except TimeoutError:
                pass
            return predicate()

    async def close(self) -> None:
        """Release every waiter: the server is shutting down."""
        async with self.mutate():
            self.closing = True

    # --- bots, users, chats ---------------------------------------------------
    def reset(self) -> None:
        """Forget users, chats, files, updates, webhooks, faults and the call log.

        Bot accounts stay the same objects, so a long poll in progress keeps working.
        """
        for bot in self.bots.values():
            bot.reset()
        self.users.clear()
        self.files.clear()
        self.files_by_path.clear()
        self.faults.clear()
        self.calls.clear()

    def bot(self, token: str | None) -> BotAccount | None:
        """The bot for ``token`` (the first configured bot when ``None``)."""
        if token is None:
            return next(iter(self.bots.values()))
        return self.bots.get(token)

    def add_user(
        self,
        first_name: str = DEFAULT_USER_FIRST_NAME,
        *,
        user_id: int | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = DEFAULT_LANGUAGE_CODE,
    ) -> User:
        """Create (or update) a user; every bot gets a private chat with them."""
        if user_id is None:
            user_id = next(self._user_ids)
            while user_id in self.users:
                user_id = next(self._user_ids)
        user = User(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        old = self.users.get(user_id)
        if old is not None:
            user.blocked = old.blocked
        self.users[user_id] = user
        for bot in self.bots.values():
            chat = bot.chats.get(user_id)
            if chat is None:
                bot.chats[user_id] = Chat(user=user)
            else:
                chat.user = user
        return user

    def find_chat(self, bot: BotAccount, chat_id: Any) -> Chat:
        """The chat for a Bot API ``chat_id`` (number or ``@username``) or 400."""
        if chat_id is None or chat_id == "":
            raise errors.bad_request(errors.CHAT_ID_EMPTY)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            for chat in bot.chats.values():
                if (chat.user.username or "").lower() == name:
                    return chat
            raise errors.bad_request(errors.CHAT_NOT_FOUND)
        try:
            number = int(chat_id)
        except (TypeError, ValueError):
            raise errors.bad_request(errors.CHAT_NOT_FOUND) from None
        chat = bot.chats.get(number)
        if chat is None:
            raise errors.bad_request(errors.CHAT_NOT_FOUND)
        return chat

    # --- messages and updates -------------------------------------------------
    def add_message(
        self,
        bot: BotAccount,
        chat: Chat,
        *,
        from_bot: bool,
        kind: str,
        content: dict[str, Any],
        sent_reply_markup: dict[str, Any] | None = None,
        reply_to: StoredMessage | None = None,
    ) -> StoredMessage:
        """Append a message to ``chat``; message ids increase per chat."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        sender = bot.user if from_bot else chat.user
        payload: dict[str, Any] = {
            "message_id": message_id,
            "from": sender.to_json(),
            "chat": chat.user.chat_json(),
            "date": now(),
        }
        if reply_to is not None:
            payload["reply_to_message"] = {
                k: v for k, v in reply_to.payload.items() if k != "reply_to_message"
            }
        payload.update(compact(content))
        message = StoredMessage(
            chat_id=chat.id,
            message_id=message_id,
            from_bot=from_bot,
            kind=kind,
            payload=payload,
            sent_reply_markup=sent_reply_markup,
        )
        chat.messages[message_id] = message
        return message

    def enqueue(self, bot: BotAccount, kind: str, payload: dict[str, Any]) -> Update | None:
        """Queue an update for ``bot``; dropped (``None``) if its type is not allowed.

        The update holds a snapshot of ``payload``: later edits do not change it.
        """
        if kind not in bot.allowed_updates:
            return None
        update = Update(update_id=next(self._update_ids), kind=kind, payload=copy.deepcopy(payload))
        bot.updates.append(update)
        bot.history[update.update_id] = update
        return update

    def requeue(self, bot: BotAccount, update: Update, keep_update_id: bool) -> Update:
        """Deliver ``update`` once more (same or new update_id)."""
        if keep_update_id:
            copy = Update(update.update_id, update.kind, update.payload)
            bot.updates.append(copy)
            bot.updates.sort(key=lambda u: u.update_id)
            return copy
        copy = Update(next(self._update_ids), update.kind, update.payload)
        bot.updates.append(copy)
        bot.history[copy.update_id] = copy
        return copy

    def new_callback_query(
        self, bot: BotAccount, user: User, message: StoredMessage, data: str
    ) -> CallbackQuery:
        """Register a button press on ``message``."""
        query = CallbackQuery(
            id=str(next(self._callback_ids)),
            user_id=user.id,
            chat_id=message.chat_id,
            message_id=message.message_id,
            data=data,
        )
        bot.callback_queries[query.id] = query
        return query

    # --- files ------------------------------------------------------------------
    def store_file(
        self,
        kind: str,
        data: bytes | None,
        *,
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        **meta: Any,
    ) -> StoredFile:
        """Keep a file; ``file_size`` may be declared without bytes (huge files)."""
        number = next(self._file_numbers)
        mime = mime_type or _guess_mime(kind, file_name)
        extension = mimetypes.guess_extension(mime or "") or ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        if kind == "photo":
            extension = ".jpg"
        stored = StoredFile(
            file_id=f"{FILE_ID_PREFIXES.get(kind, 'BQAC')}{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{secrets.token_urlsafe(9)}",
            kind=kind,
            file_path=f"{FILE_FOLDERS.get(kind, 'documents')}/file_{number}{extension}",
            data=data,
            file_size=file_size if file_size is not None else len(data or b""),
            mime_type=None if kind == "photo" else mime,
            file_name=file_name,
            **meta,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def store_photo(
        self,
        variants: Iterable[tuple[int, int, bytes]],
        largest_file_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Keep the sizes of one photo; return its ``PhotoSize`` list."""
        variants = list(variants)
        stored = []
        for index, (width, height, blob) in enumerate(variants):
            size = largest_file_size if index == len(variants) - 1 else None
            stored.append(
                self.store_file("photo", blob, file_size=size, width=width, height=height)
            )
        sizes = [item.to_json() for item in stored]
        for item in stored:
            item.photo_sizes = sizes
        return sizes

    # --- faults and the call log --------------------------------------------------
    def take_fault(self, token: str, method: str) -> Fault | None:
        """Consume one matching injected fault, if any."""
        for fault in self.faults:
            if fault.matches(token, method):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def log_call(self, entry: dict[str, Any]) -> None:
        """Record one Bot API call."""
        self.calls.append(entry)


def _guess_mime(kind: str, file_name: str | None) -> str:
    guessed = mimetypes.guess_type(file_name)[0] if file_name else None
    return guessed or DEFAULT_MIME_TYPES.get(kind, "application/octet-stream")
