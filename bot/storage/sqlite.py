"""The SQLite backend (``aiosqlite``): one file, one connection, for a single bot process.

Timestamps are stored as fixed-width ISO-8601 UTC text
(``2026-11-26T06:37:00.000000+00:00``), so text order is time order.

Concurrency: one connection per :class:`SqliteStorage`; every operation takes an
``asyncio.Lock`` and every write runs in a ``BEGIN IMMEDIATE`` transaction, so
coroutines of one process and several processes on one file cannot interleave
a read-then-write. A partial unique index also guarantees at most one
``running`` job per user at the database level.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite

from .base import SQL, Storage
from .model import aware_utc

__all__ = ["SqliteStorage"]

#: Ordered migrations: (version, statements). Append, never edit a shipped one;
#: PostgreSQL keeps the same versions in ``postgres._MIGRATIONS``.
_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """
            CREATE TABLE users (
                user_id     BIGINT  PRIMARY KEY,
                chat_id     BIGINT  NOT NULL,
                first_seen  TEXT    NOT NULL,
                language    TEXT
            )
            """,
            """
            CREATE TABLE jobs (
                job_id             INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id            BIGINT  NOT NULL REFERENCES users(user_id),
                chat_id            BIGINT  NOT NULL,
                message_id         BIGINT  NOT NULL,
                update_id          BIGINT,
                dedupe_key         TEXT    NOT NULL UNIQUE,
                file_id            TEXT    NOT NULL,
                file_unique_id     TEXT    NOT NULL,
                domain             TEXT    NOT NULL
                                   CHECK (domain IN ('auto', 'scalp', 'face')),
                status             TEXT    NOT NULL
                                   CHECK (status IN ('pending', 'running', 'done',
                                                     'failed', 'rejected')),
                attempts           INTEGER NOT NULL DEFAULT 0,
                next_attempt_at    TEXT    NOT NULL,
                last_error         TEXT,
                status_message_id  BIGINT,
                answered_at        TEXT,
                created_at         TEXT    NOT NULL,
                updated_at         TEXT    NOT NULL
            )
            """,
            "CREATE INDEX jobs_due ON jobs (status, next_attempt_at)",
            "CREATE INDEX jobs_user_status ON jobs (user_id, status, job_id)",
            # At most one running job per user, enforced by the database.
            "CREATE UNIQUE INDEX jobs_one_running_per_user ON jobs (user_id)"
            " WHERE status = 'running'",
            """
            CREATE TABLE results (
                result_id          INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id             BIGINT  NOT NULL UNIQUE REFERENCES jobs(job_id),
                user_id            BIGINT  NOT NULL REFERENCES users(user_id),
                domain             TEXT    NOT NULL CHECK (domain IN ('scalp', 'face')),
                grade              TEXT    NOT NULL
                                   CHECK (grade IN ('LOW', 'MIDDLE', 'HIGH', 'UNCERTAIN')),
                confidence         REAL    NOT NULL,
                measurements       TEXT    NOT NULL,
                model_version      TEXT    NOT NULL,
                annotated_file_id  TEXT,
                created_at         TEXT    NOT NULL
            )
            """,
            "CREATE INDEX results_user_domain_time ON results (user_id, domain, created_at)",
            "CREATE INDEX results_user_time ON results (user_id, created_at)",
            """
            CREATE TABLE reminders (
                user_id        BIGINT  PRIMARY KEY REFERENCES users(user_id),
                chat_id        BIGINT  NOT NULL,
                enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
                interval_days  INTEGER NOT NULL DEFAULT 30 CHECK (interval_days > 0),
                next_due_at    TEXT,
                updated_at     TEXT    NOT NULL
            )
            """,
            "CREATE INDEX reminders_due ON reminders (enabled, next_due_at)",
        ),
    ),
)


class _SQL(SQL):
    """SQLite: the portable statements plus the connection and schema ones."""

    PRAGMAS = (
        "PRAGMA journal_mode = WAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous = FULL",
        "PRAGMA busy_timeout = 10000",
    )
    BEGIN_WRITE = "BEGIN IMMEDIATE"
    COMMIT = "COMMIT"
    ROLLBACK = "ROLLBACK"
    CREATE_SCHEMA_VERSION = (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )


def _to_db_time(value: datetime) -> str:
    """Aware datetime -> fixed-width ISO-8601 UTC text (sortable as text)."""
    return aware_utc(value).isoformat(timespec="microseconds")


class SqliteStorage(Storage):
    """The repository over one SQLite file. Create with :meth:`open`."""

    _sql = _SQL

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        """Use :meth:`open`; this only wraps an already configured connection."""
        self._conn = conn
        self._path = path
        self._lock = asyncio.Lock()
        self._closed = False

    # ---- life cycle -------------------------------------------------------

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Self:  # type: ignore[override]
        """Open (creating if needed) the database at ``path`` and migrate it.

        Creates the parent folder, switches on WAL and foreign keys, and applies
        every migration newer than the stored ``schema_version``.
        """
        path_str = os.fspath(path)
        if path_str != ":memory:":
            Path(path_str).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path_str, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in _SQL.PRAGMAS:
                await conn.execute(pragma)
            storage = cls(conn, path_str)
            await storage._migrate(_MIGRATIONS)
        except BaseException:
            await conn.close()
            raise
        return storage

    async def close(self) -> None:
        """Close the connection. Safe to call twice."""
        if not self._closed:
            self._closed = True
            async with self._lock:
                await self._conn.close()

    @property
    def path(self) -> str:
        return self._path

    # ---- transaction plumbing ---------------------------------------------

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A serialized write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        async with self._lock:
            await self._conn.execute(_SQL.BEGIN_WRITE)
            try:
                yield self._conn
            except BaseException:
                # SQLite may already have rolled back (e.g. disk full); keep
                # the original error rather than "no transaction is active".
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute(_SQL.ROLLBACK)
                raise
            await self._conn.execute(_SQL.COMMIT)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Serialized access for reads (never sees another coroutine's open transaction)."""
        async with self._lock:
            yield self._conn

    async def _exec(
        self, conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> None:
        await conn.execute(sql, params)

    async def _one(
        self, conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> aiosqlite.Row | None:
        async with conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _all(
        self, conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> Sequence[aiosqlite.Row]:
        async with conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def _scalar(
        self, conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> int:
        async with conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def _changed(
        self, conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> int:
        async with conn.execute(sql, params) as cur:
            return cur.rowcount

    def _time(self, value: datetime) -> str:
        return _to_db_time(value)
