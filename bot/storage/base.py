"""The repository, written once: :class:`Storage` and the portable SQL (:class:`SQL`).

Every public method lives here and runs the statements of its backend's
dialect (a subclass of :class:`SQL`) through a handful of driver hooks
(``_write``, ``_read``, ``_exec``, ``_one``, ``_all``, ``_scalar``,
``_changed``, ``_time``, ``_lock_user``). The backends are
:class:`bot.storage.sqlite.SqliteStorage` and
:class:`bot.storage.postgres.PostgresStorage`; :meth:`Storage.open` picks one
from its argument (see :func:`bot.storage.open_storage`).
"""
from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

from .model import (
    DEFAULT_REMINDER_INTERVAL_DAYS,
    TERMINAL_STATUSES,
    Domain,
    Grade,
    Job,
    JobStatus,
    Reminder,
    Result,
    User,
    from_db_time,
    make_dedupe_key,
    req_time,
    utcnow,
)

__all__ = ["SQL", "Storage"]


class SQL:
    """The statements both dialects run as they are (named parameters, ``:name``).

    Standard SQL only: ``ON CONFLICT`` upserts, partial indexes, ``COALESCE``.
    A backend's subclass adds its connection / schema statements and overrides
    the few that differ (PostgreSQL: casts, booleans, row locks).
    """

    # --- schema (dialect specific, set by the subclass) ---
    CREATE_SCHEMA_VERSION: ClassVar[str]
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
    # (PostgreSQL adds FOR NO KEY UPDATE SKIP LOCKED.)
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
    BUMP_REMINDER_IF = """
        UPDATE reminders SET next_due_at = :next_due_at, updated_at = :now
        WHERE user_id = :user_id AND enabled = 1 AND next_due_at = :expected
    """

    # --- privacy: children first, one transaction ---
    DELETE_USER: tuple[tuple[str, str], ...] = (
        ("results", "DELETE FROM results WHERE user_id = :user_id"),
        ("jobs", "DELETE FROM jobs WHERE user_id = :user_id"),
        ("reminders", "DELETE FROM reminders WHERE user_id = :user_id"),
        ("users", "DELETE FROM users WHERE user_id = :user_id"),
    )


# --------------------------------------------------------------------------
# Row mapping (rows: sqlite3 / aiosqlite Row or asyncpg Record, both by name)
# --------------------------------------------------------------------------


def _user(row: Mapping[str, Any]) -> User:
    return User(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        first_seen=req_time(row["first_seen"]),
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
        next_attempt_at=req_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        status_message_id=row["status_message_id"],
        answered_at=from_db_time(row["answered_at"]),
        created_at=req_time(row["created_at"]),
        updated_at=req_time(row["updated_at"]),
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
        created_at=req_time(row["created_at"]),
    )


def _reminder(row: Mapping[str, Any]) -> Reminder:
    return Reminder(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        enabled=bool(row["enabled"]),
        interval_days=row["interval_days"],
        next_due_at=from_db_time(row["next_due_at"]),
        updated_at=req_time(row["updated_at"]),
    )


# --------------------------------------------------------------------------
# The repository
# --------------------------------------------------------------------------


class Storage(ABC):
    """Async repository: users, the photo job queue, results, reminders.

    Create one with ``await Storage.open(target)``: a ``postgresql://`` URL
    gives :class:`~bot.storage.postgres.PostgresStorage`, anything else is a
    SQLite file (:class:`~bot.storage.sqlite.SqliteStorage`). Both have exactly
    these methods and semantics; use it as ``async with``.
    """

    #: The backend's statements.
    _sql: ClassVar[type[SQL]]
    #: True when :meth:`recover_running_jobs` only takes jobs of processes that are gone,
    #: so a live replica may call it at any time (PostgreSQL); False: only at start-up,
    #: with no other worker on the database (SQLite).
    recovery_is_replica_safe: ClassVar[bool] = False

    # ---- life cycle -------------------------------------------------------

    @classmethod
    async def open(cls, target: str | os.PathLike[str]) -> Storage:
        """Open (creating and migrating if needed) the database ``target`` (a URL or a path).

        ``Storage.open`` chooses the backend from ``target`` (see
        :func:`bot.storage.open_storage`); a backend class's own ``open`` takes
        only its kind of target.
        """
        from . import open_storage  # the factory imports the backends lazily

        return await open_storage(target)

    @abstractmethod
    async def close(self) -> None:
        """Release the connection(s). Safe to call twice."""

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
    @abstractmethod
    def path(self) -> str:
        """Where the data lives: the SQLite file, or the PostgreSQL URL without its password."""

    async def schema_version(self) -> int:
        """The highest applied migration."""
        async with self._read() as conn:
            return await self._scalar(conn, self._sql.CURRENT_VERSION, {})

    async def _migrate(self, migrations: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Apply, in one transaction, every migration newer than the stored version."""
        async with self._write() as conn:
            await self._before_migrate(conn)
            await self._exec(conn, self._sql.CREATE_SCHEMA_VERSION, {})
            current = await self._scalar(conn, self._sql.CURRENT_VERSION, {})
            for version, statements in migrations:
                if version <= current:
                    continue
                for statement in statements:
                    await self._exec(conn, statement, {})
                await self._exec(
                    conn, self._sql.RECORD_VERSION, {"version": version, "now": self._now(None)}
                )

    # ---- driver hooks -----------------------------------------------------

    @abstractmethod
    def _write(self) -> AbstractAsyncContextManager[Any]:
        """A write transaction; yields the connection; commits, or rolls back on error."""

    @abstractmethod
    def _read(self) -> AbstractAsyncContextManager[Any]:
        """A connection for reads."""

    @abstractmethod
    async def _exec(self, conn: Any, sql: str, params: Mapping[str, Any]) -> None: ...

    @abstractmethod
    async def _one(self, conn: Any, sql: str, params: Mapping[str, Any]) -> Any | None: ...

    @abstractmethod
    async def _all(self, conn: Any, sql: str, params: Mapping[str, Any]) -> Sequence[Any]: ...

    @abstractmethod
    async def _scalar(self, conn: Any, sql: str, params: Mapping[str, Any]) -> int: ...

    @abstractmethod
    async def _changed(self, conn: Any, sql: str, params: Mapping[str, Any]) -> int:
        """Run a statement; the number of rows it inserted, updated or deleted."""

    @abstractmethod
    def _time(self, value: datetime) -> Any:
        """An aware datetime as the database stores it (naive ones raise ValueError)."""

    def _now(self, now: datetime | None) -> Any:
        return self._time(utcnow() if now is None else now)

    async def _lock_user(self, conn: Any, user_id: int) -> None:  # noqa: B027 - optional hook
        """Inside a write: serialize with other writes about the same user (default: no-op,
        for backends whose writes are serialized anyway)."""

    async def _before_migrate(self, conn: Any) -> None:  # noqa: B027 - optional hook
        """Inside the migration transaction, before anything (default: no-op)."""

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
        params = {
            "user_id": user_id, "chat_id": chat_id, "language": language, "now": self._now(now)
        }
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(conn, self._sql.UPSERT_USER, params)
            row = await self._one(conn, self._sql.GET_USER, {"user_id": user_id})
        assert row is not None
        return _user(row)

    async def get_user(self, user_id: int) -> User | None:
        async with self._read() as conn:
            row = await self._one(conn, self._sql.GET_USER, {"user_id": user_id})
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
        ts = self._now(now)
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(
                conn, self._sql.ENSURE_USER, {"user_id": user_id, "chat_id": chat_id, "now": ts}
            )
            inserted = await self._changed(
                conn,
                self._sql.INSERT_JOB,
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
            row = await self._one(conn, self._sql.GET_JOB_BY_KEY, {"dedupe_key": key})
        assert row is not None
        return _job(row), inserted == 0

    async def get_job(self, job_id: int) -> Job | None:
        async with self._read() as conn:
            row = await self._one(conn, self._sql.GET_JOB, {"job_id": job_id})
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
        ts = self._now(now)
        async with self._write() as conn:
            row = await self._one(conn, self._sql.NEXT_CLAIMABLE, {"now": ts, "user_id": user_id})
            if row is None:
                return None
            job_id = row["job_id"]
            marked = await self._changed(
                conn, self._sql.MARK_RUNNING, {"job_id": job_id, "now": ts}
            )
            if marked != 1:
                return None
            claimed = await self._one(conn, self._sql.GET_JOB, {"job_id": job_id})
        assert claimed is not None
        return _job(claimed)

    async def set_status_message(
        self, job_id: int, status_message_id: int | None, *, now: datetime | None = None
    ) -> bool:
        """Remember (or clear, with None) the "분석 중" message of a job."""
        params = {"job_id": job_id, "status_message_id": status_message_id, "now": self._now(now)}
        async with self._write() as conn:
            return await self._changed(conn, self._sql.SET_STATUS_MESSAGE, params) == 1

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
            "next_attempt_at": self._time(next_attempt_at),
            "now": self._now(now),
        }
        async with self._write() as conn:
            if await self._changed(conn, self._sql.RESCHEDULE_JOB, params) != 1:
                return None
            row = await self._one(conn, self._sql.GET_JOB, {"job_id": job_id})
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
        params = {"job_id": job_id, "status": status.value, "error": error, "now": self._now(now)}
        async with self._write() as conn:
            return await self._changed(conn, self._sql.FINISH_JOB, params) == 1

    async def mark_answered(self, job_id: int, *, now: datetime | None = None) -> bool:
        """Record that the job's reply was sent. False if it already was (or the job is gone).

        Call it right after the reply is sent; before sending, skip jobs whose
        :attr:`Job.answered` is already true (e.g. re-claimed after a crash).
        """
        async with self._write() as conn:
            changed = await self._changed(
                conn, self._sql.MARK_ANSWERED, {"job_id": job_id, "now": self._now(now)}
            )
        return changed == 1

    async def recover_running_jobs(self, *, now: datetime | None = None) -> list[Job]:
        """At start-up: jobs left ``running`` by a crashed process go back to pending.

        They become due immediately; attempts are not increased. Returns the
        recovered jobs (as they are now, i.e. pending). SQLite: every running
        job, so call it only while no other worker process shares the file.
        PostgreSQL (many replicas): only jobs whose claiming ``Storage`` is gone
        (its process died or closed it); the running jobs of live replicas,
        this one included, are left alone, so it is safe at any time (see
        :attr:`recovery_is_replica_safe`).
        """
        ts = self._now(now)
        async with self._write() as conn:
            rows = await self._all(conn, self._sql.RUNNING_JOBS, {})
            await self._exec(conn, self._sql.RECOVER_RUNNING, {"now": ts})
            ids = [row["job_id"] for row in rows]
            recovered = [await self._one(conn, self._sql.GET_JOB, {"job_id": i}) for i in ids]
        return [_job(row) for row in recovered if row is not None]

    async def pending_jobs(self) -> list[Job]:
        """All pending jobs (due or not), oldest first."""
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.PENDING_JOBS, {})
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
            "now": self._now(now),
        }
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(conn, self._sql.INSERT_RESULT, params)
            row = await self._one(conn, self._sql.RESULT_FOR_JOB, {"job_id": job_id})
        if row is None or row["user_id"] != user_id:
            return None
        return _result(row)

    async def set_annotated_file_id(self, user_id: int, result_id: int, file_id: str) -> bool:
        """Store the Telegram file_id of the annotated photo once it was sent."""
        params = {"user_id": user_id, "result_id": result_id, "annotated_file_id": file_id}
        async with self._write() as conn:
            return await self._changed(conn, self._sql.SET_ANNOTATED, params) == 1

    async def result_for_job(self, job_id: int) -> Result | None:
        """The result of a job, if any (to re-send after a crash, not for users)."""
        async with self._read() as conn:
            row = await self._one(conn, self._sql.RESULT_FOR_JOB, {"job_id": job_id})
        return None if row is None else _result(row)

    async def get_result(self, user_id: int, result_id: int) -> Result | None:
        """A result of this user; None if it does not exist or is another user's."""
        async with self._read() as conn:
            row = await self._one(
                conn, self._sql.GET_RESULT, {"user_id": user_id, "result_id": result_id}
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
            rows = await self._all(conn, self._sql.LIST_RESULTS, params)
        return [_result(row) for row in rows]

    async def count_results(self, user_id: int, domain: Domain | str | None = None) -> int:
        """How many results the user has (optionally in one domain), for paging."""
        params = {"user_id": user_id, "domain": None if domain is None else Domain(domain).value}
        async with self._read() as conn:
            return await self._scalar(conn, self._sql.COUNT_RESULTS, params)

    async def results_for_trend(self, user_id: int, domain: Domain | str) -> list[Result]:
        """All of the user's results in one domain, oldest first."""
        params = {"user_id": user_id, "domain": Domain(domain).value}
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.TREND_RESULTS, params)
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
        ts = self._time(current)
        params = {
            "user_id": user_id,
            "chat_id": chat_id,
            "interval_days": interval_days,
            "next_due_at": self._time(due),
            "now": ts,
        }
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(
                conn, self._sql.ENSURE_USER, {"user_id": user_id, "chat_id": chat_id, "now": ts}
            )
            await self._exec(conn, self._sql.UPSERT_REMINDER, params)
            row = await self._one(conn, self._sql.GET_REMINDER, {"user_id": user_id})
        assert row is not None
        return _reminder(row)

    async def get_reminder(self, user_id: int) -> Reminder | None:
        async with self._read() as conn:
            row = await self._one(conn, self._sql.GET_REMINDER, {"user_id": user_id})
        return None if row is None else _reminder(row)

    async def disable_reminder(self, user_id: int, *, now: datetime | None = None) -> bool:
        """Switch the reminder off. False if there was no enabled reminder."""
        async with self._write() as conn:
            changed = await self._changed(
                conn, self._sql.DISABLE_REMINDER, {"user_id": user_id, "now": self._now(now)}
            )
        return changed == 1

    async def due_reminders(self, now: datetime | None = None) -> list[Reminder]:
        """Enabled reminders whose ``next_due_at`` is at or before ``now``."""
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.DUE_REMINDERS, {"now": self._now(now)})
        return [_reminder(row) for row in rows]

    async def all_enabled_reminders(self) -> list[Reminder]:
        """Every enabled reminder (to re-schedule jobs after a restart)."""
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.ENABLED_REMINDERS, {})
        return [_reminder(row) for row in rows]

    async def bump_reminder(
        self,
        user_id: int,
        next_due_at: datetime,
        *,
        now: datetime | None = None,
        expected: datetime | None = None,
    ) -> bool:
        """Set the next due time (after a ping was sent). False if not enabled.

        With ``expected`` (the ``next_due_at`` the caller read) it is a
        compare-and-set: False also when the due time is no longer that, so of
        several replicas sweeping the same due reminder exactly one wins (bump
        first, then send; on a failed send, bump back to ``expected``).
        """
        params = {
            "user_id": user_id, "next_due_at": self._time(next_due_at), "now": self._now(now)
        }
        if expected is None:
            async with self._write() as conn:
                return await self._changed(conn, self._sql.BUMP_REMINDER, params) == 1
        params["expected"] = self._time(expected)
        async with self._write() as conn:
            return await self._changed(conn, self._sql.BUMP_REMINDER_IF, params) == 1

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
            await self._lock_user(conn, user_id)
            for table, sql in self._sql.DELETE_USER:
                counts[table] = await self._changed(conn, sql, {"user_id": user_id})
        return counts
