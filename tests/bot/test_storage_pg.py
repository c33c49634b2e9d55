"""PostgreSQL only: several bot replicas on one database (the storage's shared behaviour is
checked on both backends in tests/bot/test_storage.py, whose ``[postgres]`` cases run there).

Each test gets a fresh database on a real server (tests/fakes/postgres.py: ``TEST_POSTGRES_DSN``,
or a throwaway server from ``scripts/postgres.sh``; skipped without one, failed under CI=true).
Every "replica" is its own :class:`PostgresStorage` with its own pool and owner lock, as a
separate process would have.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.settings import Settings, SettingsError
from bot.storage import (
    SCHEMA_VERSION,
    JobStatus,
    PostgresStorage,
    SqliteStorage,
    Storage,
    is_postgres_url,
    open_storage,
    redact_url,
)
from bot.storage.postgres import to_positional
from tests.fakes.postgres import fresh_database, require_postgres

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ALICE = 111_111_001
TOKEN = "123456:PG-settings-token"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return require_postgres()


@pytest.fixture
async def dsn(postgres_server: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_server) as url:
        yield url


async def enqueue(st: Storage, user_id: int, message_id: int):
    job, _ = await st.enqueue_job(
        user_id=user_id, chat_id=user_id, message_id=message_id,
        file_id=f"f-{user_id}-{message_id}", file_unique_id=f"u-{user_id}-{message_id}", now=T0,
    )
    return job


# --------------------------------------------------------------------------- choosing it


def test_urls_choose_the_backend_and_passwords_stay_hidden() -> None:
    assert is_postgres_url("postgresql://bot@db/bot") and is_postgres_url(" postgres://h/d")
    assert not is_postgres_url("data/bot.sqlite3") and not is_postgres_url(Path("/x/pg.db"))
    assert redact_url("postgresql://bot:s3cret@db:5432/bot") == "postgresql://bot:***@db:5432/bot"
    assert redact_url("postgresql://db/bot?user=b&password=s3cret&sslmode=require") == (
        "postgresql://db/bot?user=b&password=***&sslmode=require")
    assert redact_url("postgresql://bot@db/bot") == "postgresql://bot@db/bot"


def test_named_parameters_become_positional() -> None:
    sql, names = to_positional("SELECT :a, :b::text, x::int FROM t WHERE c = :a AND d = :b_2")
    assert sql == "SELECT $1, $2::text, x::int FROM t WHERE c = $1 AND d = $3"
    assert names == ("a", "b", "b_2")


def test_settings_take_a_postgres_url() -> None:
    url = "postgresql://bot:db-pass-4f2a9c@db.internal:5432/bot"
    s = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_DATABASE_URL": url,
                           "BOT_DB_PATH": "/ignored.sqlite3"})
    assert s.database == url
    assert "db-pass-4f2a9c" not in repr(s) and "database_url='postgresql://bot:***@" in repr(s)
    assert "db-pass-4f2a9c" in s.secrets()  # so the log redaction removes it too
    plain = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_DB_PATH": "/tmp/b.sqlite3"})
    assert plain.database == Path("/tmp/b.sqlite3") and plain.database_url is None
    with pytest.raises(SettingsError, match="BOT_DATABASE_URL"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_DATABASE_URL": "mysql://x/y"})


async def test_open_picks_the_backend(dsn: str, tmp_path: Path) -> None:
    async with await Storage.open(dsn) as pg, await open_storage(tmp_path / "a.db") as lite:
        assert isinstance(pg, PostgresStorage) and isinstance(lite, SqliteStorage)
        assert pg.path == redact_url(dsn)
        assert await pg.schema_version() == await lite.schema_version() == SCHEMA_VERSION


# --------------------------------------------------------------------------- replicas


async def test_replicas_starting_together_migrate_once(dsn: str) -> None:
    replicas = await asyncio.gather(*(Storage.open(dsn) for _ in range(4)))
    try:
        assert [await r.schema_version() for r in replicas] == [SCHEMA_VERSION] * 4
        assert len({r.owner for r in replicas}) == 4  # type: ignore[attr-defined]
    finally:
        for r in replicas:
            await r.close()
    con = await asyncpg.connect(dsn)
    try:
        versions = [r["version"] for r in await con.fetch("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))  # each migration once
    finally:
        await con.close()


async def test_replicas_never_claim_the_same_job_and_keep_each_users_order(dsn: str) -> None:
    users = [900_000 + u for u in range(6)]
    replicas = [await Storage.open(dsn) for _ in range(3)]
    try:
        for message_id in range(1, 6):
            for user in users:
                await enqueue(replicas[0], user, message_id)
        running: set[int] = set()
        claims: list[tuple[int, int, int]] = []  # (user, message_id, job_id) in claim order
        violations: list[str] = []

        async def worker(st: Storage) -> None:
            idle = 0
            while idle < 20:
                job = await st.claim_next_job(now=T0 + timedelta(minutes=1))
                if job is None:
                    idle += 1
                    await asyncio.sleep(0.01)
                    continue
                idle = 0
                if job.user_id in running:
                    violations.append(f"user {job.user_id} had two running jobs")
                running.add(job.user_id)
                claims.append((job.user_id, job.message_id, job.job_id))
                await asyncio.sleep(random.uniform(0, 0.01))
                running.discard(job.user_id)
                assert await st.finish_job(job.job_id, JobStatus.DONE)

        await asyncio.gather(*(worker(st) for st in replicas for _ in range(3)))
        assert violations == []
        assert len(claims) == len({job_id for _, _, job_id in claims}) == 30  # each job once
        for user in users:
            assert [m for u, m, _ in claims if u == user] == [1, 2, 3, 4, 5]
        assert await replicas[1].pending_jobs() == []
    finally:
        for st in replicas:
            await st.close()


async def test_recovery_leaves_the_jobs_of_live_replicas_alone(dsn: str) -> None:
    a, b = await Storage.open(dsn), await Storage.open(dsn)
    try:
        job = await enqueue(a, ALICE, 1)
        claimed = await a.claim_next_job(now=T0)
        assert claimed is not None and claimed.job_id == job.job_id
        assert await b.recover_running_jobs(now=T0) == []  # a is alive: its job stays running
        assert await a.recover_running_jobs(now=T0) == []  # ... also when a sweeps itself
        assert (await b.get_job(job.job_id)).status is JobStatus.RUNNING  # type: ignore[union-attr]
        await a.close()  # a replica stops (or dies) with the job unfinished
        recovered = await b.recover_running_jobs(now=T0)
        assert [j.job_id for j in recovered] == [job.job_id]
        assert recovered[0].status is JobStatus.PENDING and recovered[0].attempts == 0
        again = await b.claim_next_job(now=T0)
        assert again is not None and again.job_id == job.job_id
    finally:
        await a.close()
        await b.close()


async def test_a_replica_that_lost_its_owner_lock_takes_it_again(dsn: str) -> None:
    a, b = await Storage.open(dsn), await Storage.open(dsn)
    try:
        await enqueue(a, ALICE, 1)
        await enqueue(a, ALICE + 1, 1)
        first = await a.claim_next_job(now=T0)
        assert first is not None
        admin = await asyncpg.connect(dsn)
        try:  # the connection holding a's owner lock dies (e.g. a network cut)
            pid = a._owner_conn.get_server_pid()  # type: ignore[attr-defined]  # noqa: SLF001
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(100):
            if a._owner_conn.is_closed():  # type: ignore[attr-defined]  # noqa: SLF001
                break
            await asyncio.sleep(0.02)
        # a's running job now looks orphaned to the other replica...
        assert [j.job_id for j in await b.recover_running_jobs(now=T0)] == [first.job_id]
        # ...and a's next claim re-takes its lock first, so its new job is safe again.
        second = await a.claim_next_job(now=T0)
        assert second is not None
        assert await b.recover_running_jobs(now=T0) == []
    finally:
        await a.close()
        await b.close()


async def test_delete_races_writes_of_the_same_user_on_other_replicas(dsn: str) -> None:
    a, b = await Storage.open(dsn), await Storage.open(dsn)
    try:
        for round_ in range(8):
            base = round_ * 10
            writes = [enqueue(a, ALICE, base + i) for i in range(3)]
            writes.append(a.set_reminder(ALICE, ALICE, now=T0))
            writes.append(a.upsert_user(ALICE, ALICE, "ko", now=T0))
            outcome = await asyncio.gather(*writes, b.delete_user_data(ALICE),
                                           return_exceptions=True)
            errors = [o for o in outcome if isinstance(o, BaseException)]
            assert errors == [], errors
            # whatever survived is consistent: rows only for a user row that exists
            jobs = await a.pending_jobs()
            if jobs:
                assert await a.get_user(ALICE) is not None
            counts = await b.delete_user_data(ALICE)
            assert counts["jobs"] == len(jobs)
        assert await a.get_user(ALICE) is None and await a.pending_jobs() == []
    finally:
        await a.close()
        await b.close()


async def test_unreachable_server_is_retried_then_reported() -> None:
    with pytest.raises(OSError):
        await PostgresStorage.open("postgresql://nobody@127.0.0.1:1/none", connect_attempts=2)


# --------------------------------------------------------------------------- the bot on it


async def test_the_bot_itself_runs_on_postgres(dsn: str, tmp_path: Path) -> None:
    """BOT_DATABASE_URL through the real application: storage and rate limiter on PostgreSQL."""
    from bot.ratelimit import PostgresBuckets
    from localchat.botapi import LocalApiClient
    from tests.fakes.stack import bot_settings, local_telegram, running_bot

    unused = tmp_path / "unused.sqlite3"
    async with local_telegram() as server, LocalApiClient(server.url) as tg:
        settings = bot_settings(server, "http://127.0.0.1:9", unused, database_url=dsn)
        user = await tg.create_user("민준")
        async with running_bot(settings) as application:
            assert isinstance(application.bot_data["services"].storage, PostgresStorage)
            assert isinstance(application.bot.rate_limiter.buckets, PostgresBuckets)
            await tg.send_command(user["id"], "remind", "4주")
            [reply] = await tg.wait_for_messages(user["id"], 1, timeout=20)
            assert "정기 점검 알림을 켰어요" in reply["text"]
    assert not unused.exists()
    async with await Storage.open(dsn) as st:
        reminder = await st.get_reminder(user["id"])
        assert reminder is not None and reminder.enabled
        assert await st.get_user(user["id"]) is not None
