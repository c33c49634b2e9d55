"""Bot accounts: identity, update queue, webhook, long poll, command lists."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from .chats import CallbackQuery, Chat, User
from .protocol import DEFAULT_ALLOWED_UPDATES, compact


def bot_id_from_token(token: str) -> int:
    """The bot's user id: the number before ``:`` in the token (else a hash)."""
    prefix = token.split(":", 1)[0]
    return int(prefix) if prefix.isdigit() else zlib.crc32(token.encode()) or 1


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
