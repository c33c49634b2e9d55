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

from .base import Storage
from .model import aware_utc
from .sql import SQLITE_MIGRATIONS, SqliteSQL

__all__ = ["SqliteStorage"]


def _to_db_time(value: datetime) -> str:
    """Aware datetime -> fixed-width ISO-8601 UTC text (sortable as text)."""
    return aware_utc(value).isoformat(timespec="microseconds")


class SqliteStorage(Storage):
    """The repository over one SQLite file. Create with :meth:`open`."""

    _sql = SqliteSQL

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        """Use :meth:`open`; this only wraps an already configured connection."""
        self._conn = conn
        self._path = path
        self._lock = asyncio.Lock()
        self._closed = False

    # ---- life cycle -------------------------------------------------------

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Self:
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
            for pragma in SqliteSQL.PRAGMAS:
                await conn.execute(pragma)
            storage = cls(conn, path_str)
            await storage._migrate(SQLITE_MIGRATIONS)
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
            await self._conn.execute(SqliteSQL.BEGIN_WRITE)
            try:
                yield self._conn
            except BaseException:
                # SQLite may already have rolled back (e.g. disk full); keep
                # the original error rather than "no transaction is active".
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute(SqliteSQL.ROLLBACK)
                raise
            await self._conn.execute(SqliteSQL.COMMIT)

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
