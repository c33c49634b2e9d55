"""Every SQL statement of the storage layer, as text: the portable ones and each dialect's.

:class:`SQL` holds the statements both dialects run as they are; :class:`SqliteSQL`
and :class:`PostgresSQL` add their connection and schema statements and override
the few that differ. The migration lists (:data:`SQLITE_MIGRATIONS`,
:data:`POSTGRES_MIGRATIONS`) keep the same version numbers. The code that runs
them is in :mod:`bot.storage.base` (every public method, written once) and the
drivers :mod:`bot.storage.sqlite` and :mod:`bot.storage.postgres`.
"""
from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ADVISORY_NAMESPACE",
    "MIGRATION_LOCK_KEY",
    "POSTGRES_MIGRATIONS",
    "SQL",
    "SQLITE_MIGRATIONS",
    "Migrations",
    "PostgresSQL",
    "SqliteSQL",
]

#: Ordered migrations: (version, statements). Append, never edit a shipped one.
Migrations = tuple[tuple[int, tuple[str, ...]], ...]


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
    SET_CHECK_MODE = "UPDATE users SET check_mode = :mode WHERE user_id = :user_id"

    # --- jobs ---
    INSERT_JOB = """
        INSERT INTO jobs (user_id, chat_id, message_id, update_id, dedupe_key,
                          file_id, file_unique_id, domain, status, attempts,
                          next_attempt_at, created_at, updated_at, album_id)
        VALUES (:user_id, :chat_id, :message_id, :update_id, :dedupe_key,
                :file_id, :file_unique_id, :domain, 'pending', 0,
                :due, :now, :now, :album_id)
        ON CONFLICT (dedupe_key) DO NOTHING
    """
    # The rest of an album (a Telegram media group), answered with its first job's answer.
    ALBUM_SIBLINGS = """
        SELECT * FROM jobs
        WHERE user_id = :user_id AND album_id = :album_id AND status = 'pending'
          AND job_id > :job_id
        ORDER BY job_id
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

    # --- one result, with the job that made it (only the user's own, only a finished job) ---
    RESULT_JOB = "SELECT job_id FROM results WHERE result_id = :result_id AND user_id = :user_id"
    DELETE_RESULT = "DELETE FROM results WHERE result_id = :result_id AND user_id = :user_id"
    DELETE_FINISHED_JOB = """
        DELETE FROM jobs WHERE job_id = :job_id AND user_id = :user_id
          AND status NOT IN ('pending', 'running')
    """

    # --- privacy: children first, one transaction ---
    DELETE_USER: tuple[tuple[str, str], ...] = (
        ("results", "DELETE FROM results WHERE user_id = :user_id"),
        ("jobs", "DELETE FROM jobs WHERE user_id = :user_id"),
        ("reminders", "DELETE FROM reminders WHERE user_id = :user_id"),
        ("users", "DELETE FROM users WHERE user_id = :user_id"),
    )


# --------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------

#: SQLite's migrations; PostgreSQL keeps the same versions in :data:`POSTGRES_MIGRATIONS`.
SQLITE_MIGRATIONS: Migrations = (
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
    (
        2,
        (
            # the check a user chose for every photo (/scalp, /face; /auto: the service routes)
            "ALTER TABLE users ADD COLUMN check_mode TEXT NOT NULL DEFAULT 'auto'"
            " CHECK (check_mode IN ('auto', 'scalp', 'face'))",
        ),
    ),
    (
        3,
        (
            # the Telegram media group a photo came in (an album gets one answer)
            "ALTER TABLE jobs ADD COLUMN album_id TEXT",
            "CREATE INDEX jobs_album ON jobs (user_id, album_id)",
        ),
    ),
)


class SqliteSQL(SQL):
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


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

#: First key of every two-key advisory lock this project takes (``pg_advisory_lock(ns, key)``).
ADVISORY_NAMESPACE = 0x05CA1B07
#: Second key of the lock that serializes migrations (owner keys are random, >= 1).
MIGRATION_LOCK_KEY = 0

#: The same versions as :data:`SQLITE_MIGRATIONS`, PostgreSQL types.
POSTGRES_MIGRATIONS: Migrations = (
    (
        1,
        (
            """
            CREATE TABLE users (
                user_id     BIGINT       PRIMARY KEY,
                chat_id     BIGINT       NOT NULL,
                first_seen  TIMESTAMPTZ  NOT NULL,
                language    TEXT
            )
            """,
            """
            CREATE TABLE jobs (
                job_id             BIGINT       GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                user_id            BIGINT       NOT NULL REFERENCES users(user_id),
                chat_id            BIGINT       NOT NULL,
                message_id         BIGINT       NOT NULL,
                update_id          BIGINT,
                dedupe_key         TEXT         NOT NULL UNIQUE,
                file_id            TEXT         NOT NULL,
                file_unique_id     TEXT         NOT NULL,
                domain             TEXT         NOT NULL
                                   CHECK (domain IN ('auto', 'scalp', 'face')),
                status             TEXT         NOT NULL
                                   CHECK (status IN ('pending', 'running', 'done',
                                                     'failed', 'rejected')),
                attempts           INTEGER      NOT NULL DEFAULT 0,
                next_attempt_at    TIMESTAMPTZ  NOT NULL,
                last_error         TEXT,
                status_message_id  BIGINT,
                answered_at        TIMESTAMPTZ,
                created_at         TIMESTAMPTZ  NOT NULL,
                updated_at         TIMESTAMPTZ  NOT NULL,
                -- owner key of the PostgresStorage that claimed the job (while running)
                claimed_by         INTEGER
            )
            """,
            "CREATE INDEX jobs_due ON jobs (status, next_attempt_at)",
            "CREATE INDEX jobs_user_status ON jobs (user_id, status, job_id)",
            # At most one running job per user, enforced by the database.
            "CREATE UNIQUE INDEX jobs_one_running_per_user ON jobs (user_id)"
            " WHERE status = 'running'",
            """
            CREATE TABLE results (
                result_id          BIGINT       GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                job_id             BIGINT       NOT NULL UNIQUE REFERENCES jobs(job_id),
                user_id            BIGINT       NOT NULL REFERENCES users(user_id),
                domain             TEXT         NOT NULL CHECK (domain IN ('scalp', 'face')),
                grade              TEXT         NOT NULL
                                   CHECK (grade IN ('LOW', 'MIDDLE', 'HIGH', 'UNCERTAIN')),
                confidence         DOUBLE PRECISION NOT NULL,
                measurements       TEXT         NOT NULL,
                model_version      TEXT         NOT NULL,
                annotated_file_id  TEXT,
                created_at         TIMESTAMPTZ  NOT NULL
            )
            """,
            "CREATE INDEX results_user_domain_time ON results (user_id, domain, created_at)",
            "CREATE INDEX results_user_time ON results (user_id, created_at)",
            """
            CREATE TABLE reminders (
                user_id        BIGINT       PRIMARY KEY REFERENCES users(user_id),
                chat_id        BIGINT       NOT NULL,
                enabled        BOOLEAN      NOT NULL,
                interval_days  INTEGER      NOT NULL DEFAULT 30 CHECK (interval_days > 0),
                next_due_at    TIMESTAMPTZ,
                updated_at     TIMESTAMPTZ  NOT NULL
            )
            """,
            "CREATE INDEX reminders_due ON reminders (enabled, next_due_at)",
        ),
    ),
    (
        2,
        (
            # the check a user chose for every photo (/scalp, /face; /auto: the service routes)
            "ALTER TABLE users ADD COLUMN check_mode TEXT NOT NULL DEFAULT 'auto'"
            " CHECK (check_mode IN ('auto', 'scalp', 'face'))",
        ),
    ),
    (
        3,
        (
            # the Telegram media group a photo came in (an album gets one answer)
            "ALTER TABLE jobs ADD COLUMN album_id TEXT",
            "CREATE INDEX jobs_album ON jobs (user_id, album_id)",
        ),
    ),
)

#: A running job is an orphan when nobody holds its owner's advisory lock any more
#: (this instance holds its own, so its running jobs are never orphans).
_ORPHANED = f"""
    (claimed_by IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = {ADVISORY_NAMESPACE}::oid
          AND l.objid = jobs.claimed_by::oid AND l.objsubid = 2))
"""



class PostgresSQL(SQL):
    """PostgreSQL: the portable statements, with casts, booleans and row locks where needed."""

    CREATE_SCHEMA_VERSION = (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
    )
    LOCK_MIGRATIONS = f"SELECT pg_advisory_xact_lock({ADVISORY_NAMESPACE}, {MIGRATION_LOCK_KEY})"
    LOCK_USER = "SELECT pg_advisory_xact_lock(CAST(:user_id AS BIGINT))"
    TRY_LOCK_OWNER = f"SELECT pg_try_advisory_lock({ADVISORY_NAMESPACE}, :owner)"

    # Locks the candidate; a concurrent claimer skips it and looks further.
    NEXT_CLAIMABLE = """
        SELECT j.job_id FROM jobs j
        WHERE j.status = 'pending'
          AND j.next_attempt_at <= :now
          AND (CAST(:user_id AS BIGINT) IS NULL OR j.user_id = :user_id)
          AND NOT EXISTS (SELECT 1 FROM jobs r
                          WHERE r.user_id = j.user_id AND r.status = 'running')
          AND NOT EXISTS (SELECT 1 FROM jobs o
                          WHERE o.user_id = j.user_id AND o.status = 'pending'
                            AND o.job_id < j.job_id)
        ORDER BY j.job_id
        LIMIT 1
        FOR NO KEY UPDATE OF j SKIP LOCKED
    """
    MARK_RUNNING = """
        UPDATE jobs SET status = 'running', claimed_by = :owner, updated_at = :now
        WHERE job_id = :job_id AND status = 'pending'
    """
    RESCHEDULE_JOB = """
        UPDATE jobs SET status = 'pending', attempts = attempts + 1,
                        last_error = :error, next_attempt_at = :next_attempt_at,
                        claimed_by = NULL, updated_at = :now
        WHERE job_id = :job_id AND status IN ('pending', 'running')
    """
    FINISH_JOB = """
        UPDATE jobs SET status = :status,
                        last_error = COALESCE(:error, last_error),
                        claimed_by = NULL, updated_at = :now
        WHERE job_id = :job_id AND status IN ('pending', 'running')
    """
    RECOVER_ORPHANED = f"""
        UPDATE jobs SET status = 'pending', next_attempt_at = :now, updated_at = :now,
                        claimed_by = NULL
        WHERE status = 'running' AND {_ORPHANED}
        RETURNING *
    """

    INSERT_RESULT = """
        INSERT INTO results (job_id, user_id, domain, grade, confidence,
                             measurements, model_version, annotated_file_id,
                             created_at)
        SELECT CAST(:job_id AS BIGINT), CAST(:user_id AS BIGINT), CAST(:domain AS TEXT),
               CAST(:grade AS TEXT), CAST(:confidence AS DOUBLE PRECISION),
               CAST(:measurements AS TEXT), CAST(:model_version AS TEXT),
               CAST(:annotated_file_id AS TEXT), CAST(:now AS TIMESTAMPTZ)
        FROM jobs WHERE job_id = :job_id AND user_id = :user_id
        ON CONFLICT (job_id) DO NOTHING
    """
    LIST_RESULTS = """
        SELECT * FROM results
        WHERE user_id = :user_id AND (CAST(:domain AS TEXT) IS NULL OR domain = :domain)
        ORDER BY created_at DESC, result_id DESC
        LIMIT :limit OFFSET :offset
    """
    COUNT_RESULTS = """
        SELECT COUNT(*) FROM results
        WHERE user_id = :user_id AND (CAST(:domain AS TEXT) IS NULL OR domain = :domain)
    """

    UPSERT_REMINDER = """
        INSERT INTO reminders (user_id, chat_id, enabled, interval_days,
                               next_due_at, updated_at)
        VALUES (:user_id, :chat_id, TRUE, :interval_days, :next_due_at, :now)
        ON CONFLICT (user_id) DO UPDATE SET
            chat_id = excluded.chat_id,
            enabled = TRUE,
            interval_days = excluded.interval_days,
            next_due_at = excluded.next_due_at,
            updated_at = excluded.updated_at
    """
    DISABLE_REMINDER = """
        UPDATE reminders SET enabled = FALSE, next_due_at = NULL, updated_at = :now
        WHERE user_id = :user_id AND enabled
    """
    DUE_REMINDERS = """
        SELECT * FROM reminders
        WHERE enabled AND next_due_at <= :now
        ORDER BY next_due_at, user_id
    """
    ENABLED_REMINDERS = "SELECT * FROM reminders WHERE enabled ORDER BY next_due_at, user_id"
    BUMP_REMINDER = """
        UPDATE reminders SET next_due_at = :next_due_at, updated_at = :now
        WHERE user_id = :user_id AND enabled
    """
    BUMP_REMINDER_IF = """
        UPDATE reminders SET next_due_at = :next_due_at, updated_at = :now
        WHERE user_id = :user_id AND enabled AND next_due_at = :expected
    """
