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

The records it holds live beside it: :mod:`.bots` (bot accounts, updates,
webhooks), :mod:`.chats` (users, chats, messages, button presses),
:mod:`.files` (stored files) and :mod:`.faults` (injected failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import mimetypes
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import errors
from .bots import BotAccount, Update
from .chats import CallbackQuery, Chat, StoredMessage, User
from .faults import Fault
from .files import StoredFile, guess_mime
from .protocol import (
    DEFAULT_LANGUAGE_CODE,
    DEFAULT_TOKEN,
    DEFAULT_USER_FIRST_NAME,
    FILE_FOLDERS,
    FILE_ID_PREFIXES,
    FIRST_CALLBACK_QUERY_ID,
    FIRST_UPDATE_ID,
    MAX_CALL_LOG,
    USER_ID_RANGE,
    compact,
    now,
)


@dataclass(frozen=True)
class Settings:
    """Configuration of one local Bot API server."""

    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    """Bot tokens the server accepts; the first is the control API's default bot."""
    control_secret: str | None = None
    """What control API calls must send in the ``X-Control-Secret`` header. ``None``: a
    random secret made at start, which same-origin callers (the web chat page,
    :class:`~localchat.botapi.client.LocalApiClient`) fetch from ``GET /_control/secret``;
    one given here is never handed out (see :mod:`localchat.botapi.guard`)."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names accepted besides the loopback names (``localhost``, ``127.0.0.1``,
    ``[::1]``): for a server other machines reach by that name. ``serve`` adds the
    address it binds to when that is neither loopback nor a wildcard."""
    resize_photos: bool = True
    """Make real downscaled JPEGs for the smaller photo sizes (needs OpenCV)."""
    webhook_timeout: float = 10.0
    """Seconds to wait for the webhook to answer one update."""
    webhook_retry_delay: float = 1.0
    """Seconds between attempts after a failed webhook delivery."""


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
            user_id = self._new_user_id()
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

    def _new_user_id(self) -> int:
        """A random unused id in :data:`USER_ID_RANGE` (not a user's, not a bot's)."""
        low, high = USER_ID_RANGE
        taken = {bot.user.id for bot in self.bots.values()}
        while True:
            user_id = low + secrets.randbelow(high - low + 1)
            if user_id not in self.users and user_id not in taken:
                return user_id

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
        found = bot.chats.get(number)
        if found is None:
            raise errors.bad_request(errors.CHAT_NOT_FOUND)
        return found

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
        mime = mime_type or guess_mime(kind, file_name)
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
        variants: Iterable[tuple[int, int, bytes | None]],
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
