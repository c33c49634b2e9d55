"""The PostgreSQL backend (``asyncpg``): one database shared by several bot replicas.

asyncpg is the driver: a maintained, fast, asyncio-native PostgreSQL client
(binary protocol, prepared statements, its own connection pool), so the bot
needs no thread pool and no SQLAlchemy layer for a handful of statements.

Same methods and semantics as the SQLite backend; what differs, and why:

* Native types: ``timestamptz`` times, ``BOOLEAN`` reminders, identity ids.
  Measurements stay JSON *text*, exactly the bytes SQLite stores.
* Concurrency: a connection pool and real transactions (READ COMMITTED) instead
  of one serialized connection. Writes about one user take a transaction-level
  advisory lock on the user id first, so ``/delete`` never interleaves with an
  enqueue, a result or a reminder of the same user (on any replica).
* Claiming: the candidate row is locked with ``FOR NO KEY UPDATE SKIP LOCKED``
  and re-checked, so two replicas never claim the same job; the partial unique
  index still allows at most one running job per user.
* Crash recovery with replicas: each open :class:`PostgresStorage` holds a
  session advisory lock on a random *owner* key for its lifetime, on a
  connection of its own, and stamps the jobs it claims with it
  (``jobs.claimed_by``). :meth:`recover_running_jobs` puts back only jobs whose
  owner lock is no longer held (that replica died or closed), so any replica may
  call it at any time.
* Migrations run under a transaction-level advisory lock, so replicas starting
  together migrate once.

The database named in the URL must exist; the tables are created in the
connection's ``search_path`` (``?search_path=bot`` in the URL picks a schema).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Self

import asyncpg

from .base import Storage
from .model import Job, aware_utc, job_from_row
from .sql import ADVISORY_NAMESPACE, POSTGRES_MIGRATIONS, PostgresSQL
from .urls import redact_url

__all__ = [
    "ADVISORY_NAMESPACE",
    "PostgresStorage",
    "connect_with_retry",
    "to_positional",
]

log = logging.getLogger(__name__)

#: Connections per :class:`PostgresStorage` pool (plus one that holds the owner lock).
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
#: Opening: tries to reach the server (a replica may start before the database), first
#: wait, doubled each time.
CONNECT_ATTEMPTS = 5
CONNECT_RETRY_SECONDS = 1.0
APPLICATION_NAME = "scalp-bot"

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=256)
def to_positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters -> asyncpg's ``$1, $2 ...`` (one number per distinct name).

    Returns the rewritten statement and the names in number order. ``::type``
    casts are left alone.
    """
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAM.sub(number, sql), tuple(names)


async def connect_with_retry(
    factory: Any, url: str, *,
    attempts: int = CONNECT_ATTEMPTS, delay: float = CONNECT_RETRY_SECONDS,
) -> Any:
    """``await factory()``, retried while the server cannot be reached or is starting up."""
    for attempt in range(1, attempts + 1):
        try:
            return await factory()
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
            if attempt >= attempts:
                raise
            log.warning("PostgreSQL at %s is not reachable (%s); retrying in %.0f s",
                        redact_url(url), exc, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _rowcount(status: str) -> int:
    """asyncpg's command status (``"UPDATE 3"``, ``"INSERT 0 1"``) -> affected rows."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresStorage(Storage):
    """The repository over a PostgreSQL database, safe to share between processes."""

    _sql = PostgresSQL
    recovery_is_replica_safe = True

    def __init__(self, pool: asyncpg.Pool, owner_conn: asyncpg.Connection, owner: int,
                 url: str) -> None:
        """Use :meth:`open`."""
        self._pool = pool
        self._owner_conn = owner_conn
        self._owner = owner
        self._url = url
        self._closed = False

    # ---- life cycle -------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *,  # type: ignore[override]
                   connect_attempts: int = CONNECT_ATTEMPTS) -> Self:
        """Connect to the database at ``url`` (``postgresql://user:pw@host:port/db``), migrate.

        Retries the first connection a few times (the server may still be
        starting). Takes this instance's owner lock (see the module docstring).
        """
        settings = {"application_name": APPLICATION_NAME}
        owner_conn: asyncpg.Connection = await connect_with_retry(
            lambda: asyncpg.connect(url, server_settings=settings), url,
            attempts=connect_attempts,
        )
        pool: asyncpg.Pool | None = None
        try:
            owner = await cls._take_owner_key(owner_conn)
            pool = await asyncpg.create_pool(
                url, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE, server_settings=settings
            )
            storage = cls(pool, owner_conn, owner, url)
            await storage._migrate(POSTGRES_MIGRATIONS)
        except BaseException:
            if pool is not None:
                await pool.close()
            await owner_conn.close()
            raise
        return storage

    @staticmethod
    async def _take_owner_key(conn: asyncpg.Connection, key: int | None = None) -> int:
        """A random owner key whose session advisory lock this connection now holds."""
        sql, _ = to_positional(PostgresSQL.TRY_LOCK_OWNER)
        while True:
            candidate = key if key is not None else secrets.randbelow(2**31 - 1) + 1
            if await conn.fetchval(sql, candidate):
                return candidate
            if key is not None:
                raise RuntimeError(f"owner key {key} is held by another session")

    async def _ensure_owner_lock(self) -> None:
        """Re-take the owner lock if its connection was lost (e.g. the server restarted)."""
        if not self._owner_conn.is_closed():
            return
        log.error("the PostgreSQL connection holding this replica's owner lock was lost; "
                  "reconnecting (running jobs may have been recovered by another replica)")
        conn = await asyncpg.connect(self._url,
                                     server_settings={"application_name": APPLICATION_NAME})
        try:
            await self._take_owner_key(conn, self._owner)
        except BaseException:
            await conn.close()
            raise
        self._owner_conn = conn

    async def close(self) -> None:
        """Close the pool, then the owner connection (which frees the owner lock)."""
        if not self._closed:
            self._closed = True
            try:
                await self._pool.close()
            finally:
                await self._owner_conn.close()

    @property
    def path(self) -> str:
        return redact_url(self._url)

    @property
    def owner(self) -> int:
        """This instance's owner key (stamped on the jobs it claims)."""
        return self._owner

    # ---- transaction plumbing ---------------------------------------------

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn:
            yield conn

    def _args(self, sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        text, names = to_positional(sql)
        defaults = {"owner": self._owner}
        return text, [params[n] if n in params else defaults[n] for n in names]

    async def _exec(self, conn: asyncpg.Connection, sql: str, params: Mapping[str, Any]) -> None:
        text, args = self._args(sql, params)
        await conn.execute(text, *args)

    async def _one(
        self, conn: asyncpg.Connection, sql: str, params: Mapping[str, Any]
    ) -> asyncpg.Record | None:
        text, args = self._args(sql, params)
        return await conn.fetchrow(text, *args)

    async def _all(
        self, conn: asyncpg.Connection, sql: str, params: Mapping[str, Any]
    ) -> Sequence[asyncpg.Record]:
        text, args = self._args(sql, params)
        return await conn.fetch(text, *args)

    async def _scalar(self, conn: asyncpg.Connection, sql: str, params: Mapping[str, Any]) -> int:
        text, args = self._args(sql, params)
        return int(await conn.fetchval(text, *args))

    async def _changed(self, conn: asyncpg.Connection, sql: str, params: Mapping[str, Any]) -> int:
        text, args = self._args(sql, params)
        return _rowcount(await conn.execute(text, *args))

    def _time(self, value: datetime) -> datetime:
        return aware_utc(value)

    async def _lock_user(self, conn: asyncpg.Connection, user_id: int) -> None:
        await self._exec(conn, PostgresSQL.LOCK_USER, {"user_id": user_id})

    async def _before_migrate(self, conn: asyncpg.Connection) -> None:
        await self._exec(conn, PostgresSQL.LOCK_MIGRATIONS, {})

    # ---- the queue, replica-aware -------------------------------------------

    async def claim_next_job(
        self, user_id: int | None = None, *, now: datetime | None = None
    ) -> Job | None:
        await self._ensure_owner_lock()
        try:
            return await super().claim_next_job(user_id, now=now)
        except asyncpg.UniqueViolationError:
            # Another replica's claim for the same user committed first (the
            # one-running-job-per-user index): nothing claimable for us now.
            return None

    claim_next_job.__doc__ = Storage.claim_next_job.__doc__

    async def recover_running_jobs(self, *, now: datetime | None = None) -> list[Job]:
        # hold our own owner lock first: otherwise a replica whose lock connection dropped
        # would see its own running jobs as orphaned and take them back while running them
        await self._ensure_owner_lock()
        ts = self._now(now)
        async with self._write() as conn:
            rows = await self._all(conn, PostgresSQL.RECOVER_ORPHANED, {"now": ts})
        return sorted((job_from_row(row) for row in rows), key=lambda job: job.job_id)

    recover_running_jobs.__doc__ = Storage.recover_running_jobs.__doc__
