"""Users and their private chats with a bot: the messages, chat actions and button presses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .protocol import FIRST_MESSAGE_ID, compact


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

    def set_fields(self, changes: dict[str, Any]) -> None:
        """Set payload fields; ``None`` removes one (Telegram omits absent fields)."""
        for key, value in changes.items():
            if value is None:
                self.payload.pop(key, None)
            else:
                self.payload[key] = value


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
class CallbackQuery:
    """A callback query created by the control API, and the bot's answer."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None
