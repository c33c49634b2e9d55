"""Durable storage for the bot: users, the photo job queue, results, reminders.

One async repository interface, :class:`Storage`, with two backends::

    async with await Storage.open("data/bot.sqlite3") as storage:          # SQLite file
        job, duplicate = await storage.enqueue_job(...)
    async with await Storage.open("postgresql://bot@db/bot") as storage:  # PostgreSQL
        ...

* :mod:`bot.storage.sqlite` (``aiosqlite``): one file, one bot process.
* :mod:`bot.storage.postgres` (``asyncpg``): one database shared by several bot
  replicas; jobs are claimed with ``FOR NO KEY UPDATE SKIP LOCKED`` so two
  replicas never take the same job, and crash recovery only touches the jobs
  of replicas that are gone.

Design rules, kept by both backends:

* Every public method is written once, in :class:`bot.storage.base.Storage`;
  all SQL text lives in :mod:`bot.storage.sql`: the portable statements, each
  dialect's overrides, and the migration lists (which keep the same version
  numbers). The backend modules are drivers only.
* The public interface speaks Python types only: ``int`` ids, aware UTC
  ``datetime`` objects, ``dict`` measurements, and frozen dataclasses
  (:class:`User`, :class:`Job`, :class:`Result`, :class:`Reminder`).
* The data key is always the Telegram *user id*; usernames are never stored.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .base import Storage
from .model import (
    DEFAULT_REMINDER_INTERVAL_DAYS,
    SCHEMA_VERSION,
    TERMINAL_STATUSES,
    Domain,
    Grade,
    Job,
    JobStatus,
    Reminder,
    Result,
    User,
    make_dedupe_key,
    utcnow,
)
from .sqlite import SqliteStorage
from .urls import POSTGRES_SCHEMES, is_postgres_url, redact_url

if TYPE_CHECKING:
    from .postgres import PostgresStorage

__all__ = [
    "DEFAULT_REMINDER_INTERVAL_DAYS",
    "Domain",
    "Grade",
    "Job",
    "JobStatus",
    "POSTGRES_SCHEMES",
    "PostgresStorage",
    "Reminder",
    "Result",
    "SCHEMA_VERSION",
    "SqliteStorage",
    "Storage",
    "TERMINAL_STATUSES",
    "User",
    "is_postgres_url",
    "make_dedupe_key",
    "open_storage",
    "redact_url",
    "utcnow",
]


async def open_storage(target: str | os.PathLike[str]) -> Storage:
    """Open the database ``target``: a PostgreSQL URL, or else the path of a SQLite file.

    Both create the schema (or migrate it) before returning.
    """
    if is_postgres_url(target):
        from .postgres import PostgresStorage  # asyncpg is only imported when used

        return await PostgresStorage.open(str(target).strip())
    return await SqliteStorage.open(target)


Storage._opener = open_storage  # Storage.open(target) == open_storage(target)


def __getattr__(name: str) -> Any:  # PostgresStorage without importing asyncpg up front
    if name == "PostgresStorage":
        from .postgres import PostgresStorage

        return PostgresStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
