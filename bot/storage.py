"""Durable storage for the bot: users, the photo job queue, results, reminders.

One async repository class, :class:`Storage`, over SQLite (``aiosqlite``)::

    async with await Storage.open("data/bot.sqlite3") as storage:
        job, duplicate = await storage.enqueue_job(...)

Design rules, so that a PostgreSQL implementation can later sit behind the
same public methods:

* Every SQL statement lives in :class:`_SQL` (DDL in :data:`_MIGRATIONS`).
  Statements use named parameters only (``:name``), standard ``ON CONFLICT``
  upserts and partial indexes, all of which PostgreSQL understands too.
* The public interface speaks Python types only: ``int`` ids, aware UTC
  ``datetime`` objects, ``dict`` measurements, and frozen dataclasses
  (:class:`User`, :class:`Job`, :class:`Result`, :class:`Reminder`).
* The data key is always the Telegram *user id*; usernames are never stored.
* Timestamps are stored as fixed-width ISO-8601 UTC text
  (``2026-11-26T06:37:00.000000+00:00``), so text order is time order.

Concurrency: one connection per :class:`Storage`; every operation takes an
``asyncio.Lock`` and every write runs in a ``BEGIN IMMEDIATE`` transaction, so
coroutines of one process and several processes on one file cannot interleave
a read-then-write.  A partial unique index also guarantees at most one
``running`` job per user at the database level.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

__all__ = [
    "DEFAULT_REMINDER_INTERVAL_DAYS",
    "Domain",
    "Grade",
    "Job",
    "JobStatus",
    "Reminder",
    "Result",
    "SCHEMA_VERSION",
    "Storage",
    "User",
    "make_dedupe_key",
    "utcnow",
]

DEFAULT_REMINDER_INTERVAL_DAYS = 30


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


def _to_db_time(value: datetime) -> str:
    """Aware datetime -> fixed-width ISO-8601 UTC text (sortable as text)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed, use UTC-aware times: {value!r}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _from_db_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


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
# SQL: the only place with SQL text
# --------------------------------------------------------------------------

SCHEMA_VERSION = 1

#: Ordered migrations: (version, statements). Append, never edit a shipped one.
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


class _SQL:
    """Every statement the repository runs (SQLite dialect, named parameters)."""

    # --- schema / connection (dialect specific) ---
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
    CURRENT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_version"
    RECORD_VERSION = "INSERT INTO schema_version (version, applied_at) VALUES (:version, :now)"

    # --- users ---
    UPSERT_USER = """
        INSERT INTO users (user_id, chat_id, first_seen, language)
        VALUES (:user_id, :chat_id, :now, :language)
        ON CONFLICT (user_id) DO UPDATE SET
            chat_id = excluded.chat_id,
            language = COALESCE(excluded.language, users.language)
    """
    ENSURE_USER = """
        INSERT INTO users (user_id, chat_id, first_seen, language)
        VALUES (:user_id, :chat_id, :now, NULL)
        ON CONFLICT (user_id) DO NOTHING
    """
    GET_USER = "SELECT * FROM users WHERE user_id = :user_id"

    # --- jobs ---
    INSERT_JOB = """
        INSERT INTO jobs (user_id, chat_id, message_id, update_id, dedupe_key,
                          file_id, file_unique_id, domain, status, attempts,
                          next_attempt_at, created_at, updated_at)
        VALUES (:user_id, :chat_id, :message_id, :update_id, :dedupe_key,
                :file_id, :file_unique_id, :domain, 'pending', 0,
                :now, :now, :now)
        ON CONFLICT (dedupe_key) DO NOTHING
    """
    GET_JOB = "SELECT * FROM jobs WHERE job_id = :job_id"
    GET_JOB_BY_KEY = "SELECT * FROM jobs WHERE dedupe_key = :dedupe_key"
    # The oldest due pending job whose user has no running job and no older
    # pending job (strict per-user order). :user_id NULL means any user.
    # (PostgreSQL: add FOR UPDATE SKIP LOCKED.)
    NEXT_CLAIMABLE = """
        SELECT j.job_id FROM jobs j
        WHERE j.status = 'pending'
          AND j.next_attempt_at <= :now
          AND (:user_id IS NULL OR j.user_id = :user_id)
          AND NOT EXISTS (SELECT 1 FROM jobs r
                          WHERE r.user_id = j.user_id AND r.status = 'running')
          AND NOT EXISTS (SELECT 1 FROM jobs o
                          WHERE o.user_id = j.user_id AND o.status = 'pending'
                            AND o.job_id < j.job_id)
        ORDER BY j.job_id
        LIMIT 1
    """
    MARK_RUNNING = """
        UPDATE jobs SET status = 'running', updated_at = :now
        WHERE job_id = :job_id AND status = 'pending'
    """
    SET_STATUS_MESSAGE = """
        UPDATE jobs SET status_message_id = :status_message_id, updated_at = :now
        WHERE job_id = :job_id
    """
    RESCHEDULE_JOB = """
        UPDATE jobs SET status = 'pending', attempts = attempts + 1,
                        last_error = :error, next_attempt_at = :next_attempt_at,
                        updated_at = :now
        WHERE job_id = :job_id AND status IN ('pending', 'running')
    """
    FINISH_JOB = """
        UPDATE jobs SET status = :status,
                        last_error = COALESCE(:error, last_error),
                        updated_at = :now
        WHERE job_id = :job_id AND status IN ('pending', 'running')
    """
    MARK_ANSWERED = """
        UPDATE jobs SET answered_at = :now, updated_at = :now
        WHERE job_id = :job_id AND answered_at IS NULL
    """
    RECOVER_RUNNING = """
        UPDATE jobs SET status = 'pending', next_attempt_at = :now, updated_at = :now
        WHERE status = 'running'
    """
    PENDING_JOBS = "SELECT * FROM jobs WHERE status = 'pending' ORDER BY job_id"
    RUNNING_JOBS = "SELECT * FROM jobs WHERE status = 'running' ORDER BY job_id"

    # --- results ---
    # Inserts only while the job exists and belongs to the user (a job erased
    # by /delete mid-flight yields no result row).
    INSERT_RESULT = """
        INSERT INTO results (job_id, user_id, domain, grade, confidence,
                             measurements, model_version, annotated_file_id,
                             created_at)
        SELECT :job_id, :user_id, :domain, :grade, :confidence, :measurements,
               :model_version, :annotated_file_id, :now
        FROM jobs WHERE job_id = :job_id AND user_id = :user_id
        ON CONFLICT (job_id) DO NOTHING
    """
    RESULT_FOR_JOB = "SELECT * FROM results WHERE job_id = :job_id"
    GET_RESULT = "SELECT * FROM results WHERE result_id = :result_id AND user_id = :user_id"
    SET_ANNOTATED = """
        UPDATE results SET annotated_file_id = :annotated_file_id
        WHERE result_id = :result_id AND user_id = :user_id
    """
    LIST_RESULTS = """
        SELECT * FROM results
        WHERE user_id = :user_id AND (:domain IS NULL OR domain = :domain)
        ORDER BY created_at DESC, result_id DESC
        LIMIT :limit OFFSET :offset
    """
    COUNT_RESULTS = """
        SELECT COUNT(*) FROM results
        WHERE user_id = :user_id AND (:domain IS NULL OR domain = :domain)
    """
    TREND_RESULTS = """
        SELECT * FROM results
        WHERE user_id = :user_id AND domain = :domain
        ORDER BY created_at ASC, result_id ASC
    """

    # --- reminders ---
    UPSERT_REMINDER = """
        INSERT INTO reminders (user_id, chat_id, enabled, interval_days,
                               next_due_at, updated_at)
        VALUES (:user_id, :chat_id, 1, :interval_days, :next_due_at, :now)
        ON CONFLICT (user_id) DO UPDATE SET
            chat_id = excluded.chat_id,
            enabled = 1,
            interval_days = excluded.interval_days,
            next_due_at = excluded.next_due_at,
            updated_at = excluded.updated_at
    """
    GET_REMINDER = "SELECT * FROM reminders WHERE user_id = :user_id"
    DISABLE_REMINDER = """
        UPDATE reminders SET enabled = 0, next_due_at = NULL, updated_at = :now
        WHERE user_id = :user_id AND enabled = 1
    """
    DUE_REMINDERS = """
        SELECT * FROM reminders
        WHERE enabled = 1 AND next_due_at <= :now
        ORDER BY next_due_at, user_id
    """
    ENABLED_REMINDERS = (
        "SELECT * FROM reminders WHERE enabled = 1 ORDER BY next_due_at, user_id"
    )
    BUMP_REMINDER = """
        UPDATE reminders SET next_due_at = :next_due_at, updated_at = :now
        WHERE user_id = :user_id AND enabled = 1
    """

    # --- privacy: children first, one transaction ---
    DELETE_USER: tuple[tuple[str, str], ...] = (
        ("results", "DELETE FROM results WHERE user_id = :user_id"),
        ("jobs", "DELETE FROM jobs WHERE user_id = :user_id"),
        ("reminders", "DELETE FROM reminders WHERE user_id = :user_id"),
        ("users", "DELETE FROM users WHERE user_id = :user_id"),
    )


# --------------------------------------------------------------------------
# Row mapping
# --------------------------------------------------------------------------


def _user(row: Mapping[str, Any]) -> User:
    return User(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        first_seen=_req_time(row["first_seen"]),
        language=row["language"],
    )


def _job(row: Mapping[str, Any]) -> Job:
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
        next_attempt_at=_req_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        status_message_id=row["status_message_id"],
        answered_at=_from_db_time(row["answered_at"]),
        created_at=_req_time(row["created_at"]),
        updated_at=_req_time(row["updated_at"]),
    )


def _result(row: Mapping[str, Any]) -> Result:
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
        created_at=_req_time(row["created_at"]),
    )


def _reminder(row: Mapping[str, Any]) -> Reminder:
    return Reminder(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        enabled=bool(row["enabled"]),
        interval_days=row["interval_days"],
        next_due_at=_from_db_time(row["next_due_at"]),
        updated_at=_req_time(row["updated_at"]),
    )


def _now(now: datetime | None) -> str:
    return _to_db_time(utcnow() if now is None else now)


# --------------------------------------------------------------------------
# The repository
# --------------------------------------------------------------------------


class Storage:
    """Async repository over one SQLite file. Create with :meth:`open`."""

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
            for pragma in _SQL.PRAGMAS:
                await conn.execute(pragma)
            storage = cls(conn, path_str)
            await storage._migrate()
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> str:
        return self._path

    async def schema_version(self) -> int:
        """The highest applied migration."""
        async with self._read() as conn:
            return await self._scalar(conn, _SQL.CURRENT_VERSION, {})

    async def _migrate(self) -> None:
        async with self._write() as conn:
            await conn.execute(_SQL.CREATE_SCHEMA_VERSION)
            current = await self._scalar(conn, _SQL.CURRENT_VERSION, {})
            for version, statements in _MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    _SQL.RECORD_VERSION, {"version": version, "now": _now(None)}
                )

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

    @staticmethod
    async def _one(
        conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> aiosqlite.Row | None:
        async with conn.execute(sql, params) as cur:
            return await cur.fetchone()

    @staticmethod
    async def _all(
        conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]
    ) -> Sequence[aiosqlite.Row]:
        async with conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    @staticmethod
    async def _scalar(conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]) -> int:
        async with conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    @staticmethod
    async def _changed(conn: aiosqlite.Connection, sql: str, params: Mapping[str, Any]) -> int:
        async with conn.execute(sql, params) as cur:
            return cur.rowcount

    # ---- users ------------------------------------------------------------

    async def upsert_user(
        self,
        user_id: int,
        chat_id: int,
        language: str | None = None,
        *,
        now: datetime | None = None,
    ) -> User:
        """Create the user or update chat_id (and language when given).

        ``first_seen`` is set once and never changed.
        """
        params = {"user_id": user_id, "chat_id": chat_id, "language": language, "now": _now(now)}
        async with self._write() as conn:
            await conn.execute(_SQL.UPSERT_USER, params)
            row = await self._one(conn, _SQL.GET_USER, {"user_id": user_id})
        assert row is not None
        return _user(row)

    async def get_user(self, user_id: int) -> User | None:
        async with self._read() as conn:
            row = await self._one(conn, _SQL.GET_USER, {"user_id": user_id})
        return None if row is None else _user(row)

    # ---- jobs -------------------------------------------------------------

    async def enqueue_job(
        self,
        *,
        user_id: int,
        chat_id: int,
        message_id: int,
        file_id: str,
        file_unique_id: str,
        domain: Domain | str = Domain.AUTO,
        update_id: int | None = None,
        dedupe_key: str | None = None,
        now: datetime | None = None,
    ) -> tuple[Job, bool]:
        """Persist an accepted photo as a pending job, before any work starts.

        Returns ``(job, duplicate)``. When a job with the same dedupe key exists
        (a re-delivered update, a double-tapped re-run button) nothing is
        inserted and the existing job is returned with ``duplicate=True``.
        ``dedupe_key`` defaults to :func:`make_dedupe_key` of chat, message and
        domain. The user row is created if missing.
        """
        domain = Domain(domain)
        key = dedupe_key or make_dedupe_key(chat_id, message_id, domain)
        ts = _now(now)
        async with self._write() as conn:
            await conn.execute(
                _SQL.ENSURE_USER, {"user_id": user_id, "chat_id": chat_id, "now": ts}
            )
            inserted = await self._changed(
                conn,
                _SQL.INSERT_JOB,
                {
                    "user_id": user_id,
                    "chat_id": chat_id,
                    "message_id": message_id,
                    "update_id": update_id,
                    "dedupe_key": key,
                    "file_id": file_id,
                    "file_unique_id": file_unique_id,
                    "domain": domain.value,
                    "now": ts,
                },
            )
            row = await self._one(conn, _SQL.GET_JOB_BY_KEY, {"dedupe_key": key})
        assert row is not None
        return _job(row), inserted == 0

    async def get_job(self, job_id: int) -> Job | None:
        async with self._read() as conn:
            row = await self._one(conn, _SQL.GET_JOB, {"job_id": job_id})
        return None if row is None else _job(row)

    async def claim_next_job(
        self, user_id: int | None = None, *, now: datetime | None = None
    ) -> Job | None:
        """Atomically move one due pending job to ``running`` and return it.

        Picks the oldest job (by enqueue order) among users that have no
        running job, and only a user's *oldest* pending job, so one user's
        photos are answered strictly in order (a newer photo waits while an
        older one is backing off). ``user_id`` restricts the claim to one user.
        Returns None when nothing is due.
        """
        ts = _now(now)
        async with self._write() as conn:
            row = await self._one(conn, _SQL.NEXT_CLAIMABLE, {"now": ts, "user_id": user_id})
            if row is None:
                return None
            job_id = row["job_id"]
            if await self._changed(conn, _SQL.MARK_RUNNING, {"job_id": job_id, "now": ts}) != 1:
                return None
            claimed = await self._one(conn, _SQL.GET_JOB, {"job_id": job_id})
        assert claimed is not None
        return _job(claimed)

    async def set_status_message(
        self, job_id: int, status_message_id: int | None, *, now: datetime | None = None
    ) -> bool:
        """Remember (or clear, with None) the "분석 중" message of a job."""
        params = {"job_id": job_id, "status_message_id": status_message_id, "now": _now(now)}
        async with self._write() as conn:
            return await self._changed(conn, _SQL.SET_STATUS_MESSAGE, params) == 1

    async def reschedule_job(
        self,
        job_id: int,
        error: str,
        next_attempt_at: datetime,
        *,
        now: datetime | None = None,
    ) -> Job | None:
        """Put a job back to ``pending`` for a later try: attempts+1, last_error set.

        Returns the updated job, or None if the job is gone or already finished.
        """
        params = {
            "job_id": job_id,
            "error": error,
            "next_attempt_at": _to_db_time(next_attempt_at),
            "now": _now(now),
        }
        async with self._write() as conn:
            if await self._changed(conn, _SQL.RESCHEDULE_JOB, params) != 1:
                return None
            row = await self._one(conn, _SQL.GET_JOB, {"job_id": job_id})
        return None if row is None else _job(row)

    async def finish_job(
        self,
        job_id: int,
        status: JobStatus | str,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Move a job to a terminal status (done, failed, rejected).

        Idempotent: returns False (and changes nothing) when the job is
        already finished or no longer exists.
        """
        status = JobStatus(status)
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"finish_job needs a terminal status, got {status!r}")
        params = {"job_id": job_id, "status": status.value, "error": error, "now": _now(now)}
        async with self._write() as conn:
            return await self._changed(conn, _SQL.FINISH_JOB, params) == 1

    async def mark_answered(self, job_id: int, *, now: datetime | None = None) -> bool:
        """Record that the job's reply was sent. False if it already was (or the job is gone).

        Call it right after the reply is sent; before sending, skip jobs whose
        :attr:`Job.answered` is already true (e.g. re-claimed after a crash).
        """
        async with self._write() as conn:
            changed = await self._changed(
                conn, _SQL.MARK_ANSWERED, {"job_id": job_id, "now": _now(now)}
            )
        return changed == 1

    async def recover_running_jobs(self, *, now: datetime | None = None) -> list[Job]:
        """At start-up: jobs left ``running`` by a crashed process go back to pending.

        They become due immediately; attempts are not increased. Returns the
        recovered jobs (as they are now, i.e. pending). Call this only while no
        other worker process shares the database.
        """
        ts = _now(now)
        async with self._write() as conn:
            rows = await self._all(conn, _SQL.RUNNING_JOBS, {})
            await conn.execute(_SQL.RECOVER_RUNNING, {"now": ts})
            ids = [row["job_id"] for row in rows]
            recovered = [await self._one(conn, _SQL.GET_JOB, {"job_id": i}) for i in ids]
        return [_job(row) for row in recovered if row is not None]

    async def pending_jobs(self) -> list[Job]:
        """All pending jobs (due or not), oldest first."""
        async with self._read() as conn:
            rows = await self._all(conn, _SQL.PENDING_JOBS, {})
        return [_job(row) for row in rows]

    # ---- results ----------------------------------------------------------

    async def add_result(
        self,
        *,
        job_id: int,
        user_id: int,
        domain: Domain | str,
        grade: Grade | str,
        confidence: float,
        measurements: Mapping[str, Any],
        model_version: str,
        annotated_file_id: str | None = None,
        now: datetime | None = None,
    ) -> Result | None:
        """Store the result of a job (one per job).

        Idempotent per job: if the job already has a result, that stored
        result is returned unchanged. Returns None when the job no longer
        exists (the user ran /delete while it was being analysed) or belongs to
        another user. ``measurements`` must be JSON-serialisable.
        """
        domain = Domain(domain)
        if domain is Domain.AUTO:
            raise ValueError("a result's domain must be scalp or face, not auto")
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {confidence}")
        params = {
            "job_id": job_id,
            "user_id": user_id,
            "domain": domain.value,
            "grade": Grade(grade).value,
            "confidence": float(confidence),
            "measurements": json.dumps(dict(measurements), ensure_ascii=False, sort_keys=True),
            "model_version": model_version,
            "annotated_file_id": annotated_file_id,
            "now": _now(now),
        }
        async with self._write() as conn:
            await conn.execute(_SQL.INSERT_RESULT, params)
            row = await self._one(conn, _SQL.RESULT_FOR_JOB, {"job_id": job_id})
        if row is None or row["user_id"] != user_id:
            return None
        return _result(row)

    async def set_annotated_file_id(self, user_id: int, result_id: int, file_id: str) -> bool:
        """Store the Telegram file_id of the annotated photo once it was sent."""
        params = {"user_id": user_id, "result_id": result_id, "annotated_file_id": file_id}
        async with self._write() as conn:
            return await self._changed(conn, _SQL.SET_ANNOTATED, params) == 1

    async def result_for_job(self, job_id: int) -> Result | None:
        """The result of a job, if any (to re-send after a crash, not for users)."""
        async with self._read() as conn:
            row = await self._one(conn, _SQL.RESULT_FOR_JOB, {"job_id": job_id})
        return None if row is None else _result(row)

    async def get_result(self, user_id: int, result_id: int) -> Result | None:
        """A result of this user; None if it does not exist or is another user's."""
        async with self._read() as conn:
            row = await self._one(
                conn, _SQL.GET_RESULT, {"user_id": user_id, "result_id": result_id}
            )
        return None if row is None else _result(row)

    async def list_results(
        self,
        user_id: int,
        domain: Domain | str | None = None,
        *,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Result]:
        """One page of the user's results, newest first."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be >= 1 and offset >= 0")
        params = {
            "user_id": user_id,
            "domain": None if domain is None else Domain(domain).value,
            "limit": limit,
            "offset": offset,
        }
        async with self._read() as conn:
            rows = await self._all(conn, _SQL.LIST_RESULTS, params)
        return [_result(row) for row in rows]

    async def count_results(self, user_id: int, domain: Domain | str | None = None) -> int:
        """How many results the user has (optionally in one domain), for paging."""
        params = {"user_id": user_id, "domain": None if domain is None else Domain(domain).value}
        async with self._read() as conn:
            return await self._scalar(conn, _SQL.COUNT_RESULTS, params)

    async def results_for_trend(self, user_id: int, domain: Domain | str) -> list[Result]:
        """All of the user's results in one domain, oldest first."""
        params = {"user_id": user_id, "domain": Domain(domain).value}
        async with self._read() as conn:
            rows = await self._all(conn, _SQL.TREND_RESULTS, params)
        return [_result(row) for row in rows]

    # ---- reminders --------------------------------------------------------

    async def set_reminder(
        self,
        user_id: int,
        chat_id: int,
        *,
        interval_days: int = DEFAULT_REMINDER_INTERVAL_DAYS,
        next_due_at: datetime | None = None,
        now: datetime | None = None,
    ) -> Reminder:
        """Enable (or re-configure) the user's reminder.

        ``next_due_at`` defaults to ``now + interval_days``. Creates the user
        row if missing.
        """
        if interval_days < 1:
            raise ValueError("interval_days must be >= 1")
        current = utcnow() if now is None else now
        due = next_due_at if next_due_at is not None else current + timedelta(days=interval_days)
        ts = _to_db_time(current)
        params = {
            "user_id": user_id,
            "chat_id": chat_id,
            "interval_days": interval_days,
            "next_due_at": _to_db_time(due),
            "now": ts,
        }
        async with self._write() as conn:
            await conn.execute(
                _SQL.ENSURE_USER, {"user_id": user_id, "chat_id": chat_id, "now": ts}
            )
            await conn.execute(_SQL.UPSERT_REMINDER, params)
            row = await self._one(conn, _SQL.GET_REMINDER, {"user_id": user_id})
        assert row is not None
        return _reminder(row)

    async def get_reminder(self, user_id: int) -> Reminder | None:
        async with self._read() as conn:
            row = await self._one(conn, _SQL.GET_REMINDER, {"user_id": user_id})
        return None if row is None else _reminder(row)

    async def disable_reminder(self, user_id: int, *, now: datetime | None = None) -> bool:
        """Switch the reminder off. False if there was no enabled reminder."""
        async with self._write() as conn:
            changed = await self._changed(
                conn, _SQL.DISABLE_REMINDER, {"user_id": user_id, "now": _now(now)}
            )
        return changed == 1

    async def due_reminders(self, now: datetime | None = None) -> list[Reminder]:
        """Enabled reminders whose ``next_due_at`` is at or before ``now``."""
        async with self._read() as conn:
            rows = await self._all(conn, _SQL.DUE_REMINDERS, {"now": _now(now)})
        return [_reminder(row) for row in rows]

    async def all_enabled_reminders(self) -> list[Reminder]:
        """Every enabled reminder (to re-schedule jobs after a restart)."""
        async with self._read() as conn:
            rows = await self._all(conn, _SQL.ENABLED_REMINDERS, {})
        return [_reminder(row) for row in rows]

    async def bump_reminder(
        self, user_id: int, next_due_at: datetime, *, now: datetime | None = None
    ) -> bool:
        """Set the next due time (after a ping was sent). False if not enabled."""
        params = {"user_id": user_id, "next_due_at": _to_db_time(next_due_at), "now": _now(now)}
        async with self._write() as conn:
            return await self._changed(conn, _SQL.BUMP_REMINDER, params) == 1

    # ---- privacy ----------------------------------------------------------

    async def delete_user_data(self, user_id: int) -> dict[str, int]:
        """Erase every row about the user, in every table, in one transaction.

        Returns the number of rows deleted per table, e.g.
        ``{"results": 3, "jobs": 4, "reminders": 1, "users": 1}``.
        Photos themselves are never stored (only Telegram file ids, which go
        with the rows).
        """
        counts: dict[str, int] = {}
        async with self._write() as conn:
            for table, sql in _SQL.DELETE_USER:
                counts[table] = await self._changed(conn, sql, {"user_id": user_id})
        return counts
