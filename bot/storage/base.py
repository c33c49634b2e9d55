"""The repository, written once: :class:`Storage`, the interface both backends share.

Every public method lives here and runs the statements of its backend's
dialect (:mod:`bot.storage.sql`) through a handful of driver hooks
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
    job_from_row,
    make_dedupe_key,
    reminder_from_row,
    result_from_row,
    user_from_row,
    utcnow,
)
from .sql import SQL

__all__ = ["Storage"]

#: What :meth:`Storage.open` calls: takes a target, opens the backend it names.
Opener = Callable[[str | os.PathLike[str]], Awaitable["Storage"]]


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

    #: The function behind :meth:`open`: :func:`bot.storage.open_storage`, installed by
    #: ``bot/storage/__init__.py``. It knows the backends, and they import this module,
    #: so this module cannot import it.
    _opener: ClassVar[Opener | None] = None

    @classmethod
    async def open(cls, target: str | os.PathLike[str]) -> Storage:
        """Open (creating and migrating if needed) the database ``target`` (a URL or a path).

        ``Storage.open`` chooses the backend from ``target`` (see
        :func:`bot.storage.open_storage`); a backend class's own ``open`` takes
        only its kind of target.
        """
        opener = Storage._opener
        if opener is None:  # only while bot/storage/__init__.py is still being imported
            raise RuntimeError("bot.storage is not initialised yet")
        return await opener(target)

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
        return user_from_row(row)

    async def get_user(self, user_id: int) -> User | None:
        async with self._read() as conn:
            row = await self._one(conn, self._sql.GET_USER, {"user_id": user_id})
        return None if row is None else user_from_row(row)

    async def set_check_mode(self, user_id: int, chat_id: int, mode: Domain | str,
                             *, now: datetime | None = None) -> User:
        """The check every photo of this user gets (``auto``: the service routes each)."""
        params = {"user_id": user_id, "chat_id": chat_id, "now": self._now(now)}
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(conn, self._sql.ENSURE_USER, params)
            await self._exec(conn, self._sql.SET_CHECK_MODE, {"user_id": user_id, "mode": Domain(mode).value})
            row = await self._one(conn, self._sql.GET_USER, {"user_id": user_id})
        assert row is not None
        return user_from_row(row)

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
        album_id: str | None = None,
        delay: timedelta = timedelta(0),
        now: datetime | None = None,
    ) -> tuple[Job, bool]:
        """Persist an accepted photo as a pending job, before any work starts.

        Returns ``(job, duplicate)``. When a job with the same dedupe key exists
        (a re-delivered update, a double-tapped re-run button) nothing is
        inserted and the existing job is returned with ``duplicate=True``.
        ``dedupe_key`` defaults to :func:`make_dedupe_key` of chat, message and
        domain. The user row is created if missing. ``album_id``: the Telegram media group
        the photo came in; ``delay``: the job is due that much later (an album's first photo
        waits for the rest to arrive).
        """
        domain = Domain(domain)
        key = dedupe_key or make_dedupe_key(chat_id, message_id, domain)
        at = utcnow() if now is None else now
        ts = self._time(at)
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(
                conn, self._sql.ENSURE_USER, {"user_id": user_id, "chat_id": chat_id, "now": ts}
            )
            inserted = await self._changed(conn, self._sql.INSERT_JOB, {
                "user_id": user_id, "chat_id": chat_id, "message_id": message_id,
                "update_id": update_id, "dedupe_key": key, "file_id": file_id,
                "file_unique_id": file_unique_id, "domain": domain.value, "now": ts,
                "due": self._time(at + delay), "album_id": album_id,
            })
            row = await self._one(conn, self._sql.GET_JOB_BY_KEY, {"dedupe_key": key})
        assert row is not None
        return job_from_row(row), inserted == 0

    async def get_job(self, job_id: int) -> Job | None:
        async with self._read() as conn:
            row = await self._one(conn, self._sql.GET_JOB, {"job_id": job_id})
        return None if row is None else job_from_row(row)

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
        return job_from_row(claimed)

    async def album_siblings(self, job: Job) -> list[Job]:
        """The pending jobs of ``job``'s album that came after it (none for a lone photo)."""
        if job.album_id is None:
            return []
        params = {"user_id": job.user_id, "album_id": job.album_id, "job_id": job.job_id}
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.ALBUM_SIBLINGS, params)
        return [job_from_row(row) for row in rows]

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
        return None if row is None else job_from_row(row)

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

    async def mark_album_answered(self, job_ids: Sequence[int], *, now: datetime | None = None) -> int:
        """Record one reply for several jobs (an album's answer) in one transaction, so that a
        crash leaves them all answered or none. Returns how many were newly marked."""
        ts = self._now(now)
        async with self._write() as conn:
            return sum([await self._changed(conn, self._sql.MARK_ANSWERED, {"job_id": j, "now": ts})
                        for j in job_ids])

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
        return [job_from_row(row) for row in recovered if row is not None]

    async def pending_jobs(self) -> list[Job]:
        """All pending jobs (due or not), oldest first."""
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.PENDING_JOBS, {})
        return [job_from_row(row) for row in rows]

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
            "job_id": job_id, "user_id": user_id, "domain": domain.value,
            "grade": Grade(grade).value, "confidence": float(confidence),
            "measurements": json.dumps(dict(measurements), ensure_ascii=False, sort_keys=True),
            "model_version": model_version, "annotated_file_id": annotated_file_id,
            "now": self._now(now),
        }
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            await self._exec(conn, self._sql.INSERT_RESULT, params)
            row = await self._one(conn, self._sql.RESULT_FOR_JOB, {"job_id": job_id})
        if row is None or row["user_id"] != user_id:
            return None
        return result_from_row(row)

    async def set_annotated_file_id(self, user_id: int, result_id: int, file_id: str) -> bool:
        """Store the Telegram file_id of the annotated photo once it was sent."""
        params = {"user_id": user_id, "result_id": result_id, "annotated_file_id": file_id}
        async with self._write() as conn:
            return await self._changed(conn, self._sql.SET_ANNOTATED, params) == 1

    async def result_for_job(self, job_id: int) -> Result | None:
        """The result of a job, if any (to re-send after a crash, not for users)."""
        async with self._read() as conn:
            row = await self._one(conn, self._sql.RESULT_FOR_JOB, {"job_id": job_id})
        return None if row is None else result_from_row(row)

    async def get_result(self, user_id: int, result_id: int) -> Result | None:
        """A result of this user; None if it does not exist or is another user's."""
        async with self._read() as conn:
            row = await self._one(
                conn, self._sql.GET_RESULT, {"user_id": user_id, "result_id": result_id}
            )
        return None if row is None else result_from_row(row)

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
        return [result_from_row(row) for row in rows]

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
        return [result_from_row(row) for row in rows]

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
        return reminder_from_row(row)

    async def get_reminder(self, user_id: int) -> Reminder | None:
        async with self._read() as conn:
            row = await self._one(conn, self._sql.GET_REMINDER, {"user_id": user_id})
        return None if row is None else reminder_from_row(row)

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
        return [reminder_from_row(row) for row in rows]

    async def all_enabled_reminders(self) -> list[Reminder]:
        """Every enabled reminder (to re-schedule jobs after a restart)."""
        async with self._read() as conn:
            rows = await self._all(conn, self._sql.ENABLED_REMINDERS, {})
        return [reminder_from_row(row) for row in rows]

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

    async def delete_result(self, user_id: int, result_id: int) -> bool:
        """Erase one of the user's results and the finished job that made it (its photo's
        file id); another user's result is never touched. True when it was there."""
        params = {"user_id": user_id, "result_id": result_id}
        async with self._write() as conn:
            await self._lock_user(conn, user_id)
            row = await self._one(conn, self._sql.RESULT_JOB, params)
            if row is None:
                return False
            await self._exec(conn, self._sql.DELETE_RESULT, params)
            await self._exec(conn, self._sql.DELETE_FINISHED_JOB,
                             {"user_id": user_id, "job_id": row["job_id"]})
        return True

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
