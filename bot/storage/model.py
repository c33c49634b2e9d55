"""What the storage layer speaks: enums, frozen records, their rows, time helpers (no SQL, no driver)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "DEFAULT_REMINDER_INTERVAL_DAYS",
    "SCHEMA_VERSION",
    "TERMINAL_STATUSES",
    "Domain",
    "Grade",
    "Job",
    "JobStatus",
    "Reminder",
    "Result",
    "User",
    "job_from_row",
    "make_dedupe_key",
    "reminder_from_row",
    "result_from_row",
    "user_from_row",
    "utcnow",
]

DEFAULT_REMINDER_INTERVAL_DAYS = 30

#: The newest migration of either backend (both keep their lists in step).
SCHEMA_VERSION = 3


class JobStatus(StrEnum):
    """Life cycle of a queued photo."""

    PENDING = "pending"  #: waiting (possibly until ``next_attempt_at``)
    RUNNING = "running"  #: claimed by a worker
    DONE = "done"  #: result produced (or answered)
    FAILED = "failed"  #: gave up after retries
    REJECTED = "rejected"  #: quality gate / not a scalp or face photo


TERMINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.REJECTED})


class Domain(StrEnum):
    """What the user asked to analyse. Results are always SCALP or FACE."""

    AUTO = "auto"
    SCALP = "scalp"
    FACE = "face"


class Grade(StrEnum):
    """Self-check grade. Korean names live in ``bot.texts``."""

    LOW = "LOW"
    MIDDLE = "MIDDLE"
    HIGH = "HIGH"
    UNCERTAIN = "UNCERTAIN"


# --------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def aware_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused (the interface speaks aware UTC times)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed, use UTC-aware times: {value!r}")
    return value.astimezone(UTC)


def from_db_time(value: str | datetime | None) -> datetime | None:
    """A stored time (SQLite: ISO-8601 text; PostgreSQL: ``timestamptz``) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def req_time(value: str | datetime) -> datetime:
    result = from_db_time(value)
    assert result is not None
    return result


def make_dedupe_key(chat_id: int, message_id: int, domain: str = Domain.AUTO) -> str:
    """The default queue dedupe key: ``"<chat_id>:<message_id>:<domain>"``.

    The same Telegram message enqueued twice (a re-delivered update) maps to the
    same key; a re-run of that photo as another domain gets a different key.
    """
    return f"{chat_id}:{message_id}:{Domain(domain).value}"


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    chat_id: int
    first_seen: datetime
    language: str | None
    check_mode: str = "auto"  # auto / scalp / face: the check every photo gets (/scalp, /face, /auto)


@dataclass(frozen=True, slots=True)
class Job:
    """One accepted photo in the durable queue."""

    job_id: int
    user_id: int
    chat_id: int
    message_id: int
    update_id: int | None
    dedupe_key: str
    file_id: str
    file_unique_id: str
    domain: Domain
    status: JobStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    status_message_id: int | None
    answered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    #: The Telegram media group the photo came in (None for a photo sent alone).
    album_id: str | None = None

    @property
    def answered(self) -> bool:
        """True once :meth:`Storage.mark_answered` recorded the reply."""
        return self.answered_at is not None


@dataclass(frozen=True, slots=True)
class Result:
    """One analysis result. ``annotated_file_id`` is a Telegram file_id, never bytes."""

    result_id: int
    job_id: int
    user_id: int
    domain: Domain
    grade: Grade
    confidence: float
    measurements: dict[str, Any]
    model_version: str
    annotated_file_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Reminder:
    user_id: int
    chat_id: int
    enabled: bool
    interval_days: int
    next_due_at: datetime | None
    updated_at: datetime


# --------------------------------------------------------------------------
# Row mapping (rows: sqlite3 / aiosqlite Row or asyncpg Record, both by name)
# --------------------------------------------------------------------------


def user_from_row(row: Mapping[str, Any]) -> User:
    return User(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        first_seen=req_time(row["first_seen"]),
        language=row["language"],
        check_mode=row["check_mode"],
    )


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(
        job_id=row["job_id"],
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        message_id=row["message_id"],
        update_id=row["update_id"],
        dedupe_key=row["dedupe_key"],
        file_id=row["file_id"],
        file_unique_id=row["file_unique_id"],
        domain=Domain(row["domain"]),
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=req_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        status_message_id=row["status_message_id"],
        answered_at=from_db_time(row["answered_at"]),
        created_at=req_time(row["created_at"]),
        updated_at=req_time(row["updated_at"]),
        album_id=row["album_id"],
    )


def result_from_row(row: Mapping[str, Any]) -> Result:
    return Result(
        result_id=row["result_id"],
        job_id=row["job_id"],
        user_id=row["user_id"],
        domain=Domain(row["domain"]),
        grade=Grade(row["grade"]),
        confidence=float(row["confidence"]),
        measurements=json.loads(row["measurements"]),
        model_version=row["model_version"],
        annotated_file_id=row["annotated_file_id"],
        created_at=req_time(row["created_at"]),
    )


def reminder_from_row(row: Mapping[str, Any]) -> Reminder:
    return Reminder(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        enabled=bool(row["enabled"]),
        interval_days=row["interval_days"],
        next_due_at=from_db_time(row["next_due_at"]),
        updated_at=req_time(row["updated_at"]),
    )
