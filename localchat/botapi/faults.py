"""Injected faults: the next calls of a Bot API method fail, or answer late."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from . import errors
from .errors import ApiError
from .protocol import compact


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
