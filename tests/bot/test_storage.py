"""Tests for bot.storage: every behavioural check runs against both backends.

``backend`` is parametrized: ``[sqlite]`` is a real SQLite file in tmp_path, ``[postgres]`` a
fresh database on a real PostgreSQL server (``tests/fakes/postgres.py``: ``TEST_POSTGRES_DSN``, or a
throwaway server started by ``scripts/postgres.sh``; skipped without one, failed under CI=true).
Checks of one backend's own mechanics (SQLite's WAL and pragmas) run on that backend only;
PostgreSQL's replica behaviour is in tests/bot/test_storage_pg.py.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.storage import (
    SCHEMA_VERSION,
    Domain,
    Grade,
    Job,
    JobStatus,
    Result,
    Storage,
    make_dedupe_key,
)
from tests.fakes.postgres import fresh_database, require_postgres

PROJECT_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ALICE = 111_111_001
BOB = 222_222_002


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "bot.sqlite3"


_UNKNOWN_USER_JOB = (
    "INSERT INTO jobs (user_id, chat_id, message_id, dedupe_key, file_id, file_unique_id,"
    " domain, status, next_attempt_at, created_at, updated_at)"
    " VALUES ({u}, {u}, 1, 'k', 'f', 'u', 'auto', 'pending', {t}, {t}, {t})"
)


class Backend:
    """One database to test against: where it is, and how to look at it from outside."""

    name = "?"
    target: str | Path

    async def open(self) -> Storage:
        """Another ``Storage`` on the same database (as another process would open it)."""
        return await Storage.open(self.target)

    async def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, read without the storage layer."""
        raise NotImplementedError

    async def insert_user_raw(self, conn: Any, user_id: int, at: datetime) -> None:
        """An INSERT of a user through the connection ``Storage._write()`` yields."""
        raise NotImplementedError

    async def insert_job_for_unknown_user(self, conn: Any) -> None:
        """An INSERT of a job whose user row does not exist (the foreign key must refuse it)."""
        raise NotImplementedError

    async def settle(self) -> None:
        """Wait until the server has noticed every client that went away."""


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.target = path

    async def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        con = sqlite3.connect(self.target)
        try:
            names = [name for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {name: [tuple(row) for row in con.execute(f'SELECT * FROM "{name}"')]  # noqa: S608
                    for name in names}
        finally:
            con.close()

    async def insert_user_raw(self, conn: Any, user_id: int, at: datetime) -> None:
        await conn.execute(
            "INSERT INTO users (user_id, chat_id, first_seen) VALUES (:u, :u, :t)",
            {"u": user_id, "t": at.isoformat()},
        )

    async def insert_job_for_unknown_user(self, conn: Any) -> None:
        t = T0.isoformat()
        await conn.execute(_UNKNOWN_USER_JOB.format(u=":u", t=":t"), {"u": 424242, "t": t})


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        self.target = dsn

    async def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        import asyncpg

        con = await asyncpg.connect(self.target)
        try:
            names = [r["table_name"] for r in await con.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                " ORDER BY table_name")]
            return {name: [tuple(r) for r in await con.fetch(f'SELECT * FROM "{name}"')]  # noqa: S608
                    for name in names}
        finally:
            await con.close()

    async def insert_user_raw(self, conn: Any, user_id: int, at: datetime) -> None:
        await conn.execute(
            "INSERT INTO users (user_id, chat_id, first_seen) VALUES ($1, $1, $2)", user_id, at
        )

    async def insert_job_for_unknown_user(self, conn: Any) -> None:
        await conn.execute(_UNKNOWN_USER_JOB.format(u="$1", t="$2"), 424242, T0)

    async def settle(self) -> None:
        import asyncpg

        con = await asyncpg.connect(self.target)
        try:
            for _ in range(200):
                others = await con.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")
                if others == 0:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"{others} session(s) still open on the test database")
        finally:
            await con.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return require_postgres()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield SqliteBackend(db_path)
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as dsn:
        yield PostgresBackend(dsn)


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    async with await backend.open() as st:
        yield st


async def enqueue(
    st: Storage,
    user_id: int,
    message_id: int,
    *,
    domain: str = "auto",
    now: datetime = T0,
    update_id: int | None = None,
) -> tuple[Job, bool]:
    return await st.enqueue_job(
        user_id=user_id,
        chat_id=user_id,  # private chat: chat id == user id
        message_id=message_id,
        update_id=update_id if update_id is not None else 9_000 + message_id,
        file_id=f"file-{user_id}-{message_id}",
        file_unique_id=f"uniq-{user_id}-{message_id}",
        domain=domain,
        now=now,
    )


async def add_result(
    st: Storage,
    user_id: int,
    message_id: int,
    *,
    domain: str = "scalp",
    grade: str = "LOW",
    now: datetime = T0,
    ratio: float = 0.1,
) -> Result:
    job, _ = await enqueue(st, user_id, message_id, now=now)
    result = await st.add_result(
        job_id=job.job_id,
        user_id=user_id,
        domain=domain,
        grade=grade,
        confidence=0.8,
        measurements={"exposed_scalp_ratio": ratio, "regions": {"crown": ratio}},
        model_version="test-1",
        annotated_file_id=f"annot-{user_id}-{message_id}",
        now=now,
    )
    assert result is not None
    return result


# --------------------------------------------------------------------------- schema


async def test_sqlite_open_creates_folder_wal_foreign_keys_and_schema_version(
    db_path: Path,
) -> None:
    assert not db_path.parent.exists()
    async with await Storage.open(db_path) as st:
        assert await st.schema_version() == SCHEMA_VERSION
    assert db_path.exists()
    con = sqlite3.connect(db_path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = con.execute("SELECT version FROM schema_version").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    finally:
        con.close()
    # Re-opening does not re-apply migrations.
    async with await Storage.open(db_path) as st:
        assert await st.schema_version() == SCHEMA_VERSION
        fk = await st._conn.execute("PRAGMA foreign_keys")  # noqa: SLF001 - checking the pragma
        assert (await fk.fetchone())[0] == 1


async def test_schema_version_recorded_once_and_foreign_keys_enforced(backend: Backend) -> None:
    async with await backend.open() as st:
        assert await st.schema_version() == SCHEMA_VERSION
    # Re-opening does not re-apply migrations.
    async with await backend.open() as st:
        assert await st.schema_version() == SCHEMA_VERSION
        with pytest.raises(Exception, match="(?i)foreign key"):
            async with st._write() as conn:  # noqa: SLF001 - a raw write, bypassing the checks
                await backend.insert_job_for_unknown_user(conn)
    tables = await backend.tables()
    assert [row[0] for row in tables["schema_version"]] == list(range(1, SCHEMA_VERSION + 1))


async def test_naive_datetimes_are_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="naive"):
        await enqueue(storage, ALICE, 1, now=datetime(2026, 1, 1))


# --------------------------------------------------------------------------- users


async def test_upsert_user_keeps_first_seen(storage: Storage) -> None:
    first = await storage.upsert_user(ALICE, ALICE, "ko", now=T0)
    later = await storage.upsert_user(ALICE, 777, None, now=T0 + timedelta(days=3))
    assert later.first_seen == first.first_seen == T0
    assert later.chat_id == 777
    assert later.language == "ko"  # None does not erase a known language
    assert (await storage.get_user(ALICE)) == later
    assert await storage.get_user(BOB) is None


async def test_check_mode_is_stored_per_user(storage: Storage) -> None:
    assert (await storage.upsert_user(ALICE, ALICE, now=T0)).check_mode == "auto"
    assert (await storage.set_check_mode(ALICE, ALICE, "scalp", now=T0)).check_mode == "scalp"
    # a user who never wrote before gets a row with the mode
    bob = await storage.set_check_mode(BOB, BOB, Domain.FACE, now=T0)
    assert bob.check_mode == "face" and bob.first_seen == T0
    assert (await storage.get_user(ALICE)).check_mode == "scalp"  # each user their own
    await storage.upsert_user(ALICE, 777, now=T0)  # a later message keeps it
    assert (await storage.get_user(ALICE)).check_mode == "scalp"
    with pytest.raises(ValueError):
        await storage.set_check_mode(ALICE, ALICE, "elbow", now=T0)


# --------------------------------------------------------------------------- queue


async def test_duplicate_enqueue_returns_existing_job(storage: Storage) -> None:
    job, dup = await enqueue(storage, ALICE, 10)
    assert not dup
    assert job.status is JobStatus.PENDING
    assert job.attempts == 0
    assert job.dedupe_key == make_dedupe_key(ALICE, 10, "auto") == f"{ALICE}:10:auto"

    again, dup2 = await enqueue(storage, ALICE, 10, now=T0 + timedelta(seconds=5))
    assert dup2
    assert again == job
    assert len(await storage.pending_jobs()) == 1

    # A re-run of the same photo as another domain is a new job.
    rerun, dup3 = await enqueue(storage, ALICE, 10, domain="scalp")
    assert not dup3
    assert rerun.job_id != job.job_id and rerun.domain is Domain.SCALP
    assert len(await storage.pending_jobs()) == 2


async def test_an_album_waits_and_its_first_job_finds_the_rest(storage: Storage) -> None:
    """An album's photos carry their media group; the first is due later (the rest arrive
    meanwhile) and finds its pending siblings, never another album's or another user's."""
    def photo(user: int, message_id: int, album: str | None, delay: float = 0.0):
        return storage.enqueue_job(
            user_id=user, chat_id=user, message_id=message_id, file_id=f"f{message_id}",
            file_unique_id=f"u{message_id}", album_id=album, delay=timedelta(seconds=delay), now=T0)

    first, _ = await photo(ALICE, 1, "g1", delay=2.0)
    second, _ = await photo(ALICE, 2, "g1")
    third, _ = await photo(ALICE, 3, "g1")
    await photo(ALICE, 4, "g2")
    await photo(ALICE, 5, None)
    await photo(BOB, 6, "g1")  # media group ids are per chat: Bob's is another album
    assert first.album_id == "g1" and first.next_attempt_at == T0 + timedelta(seconds=2)
    assert second.next_attempt_at == T0
    assert await storage.claim_next_job(now=T0 + timedelta(seconds=1)) is not None  # Bob's
    assert await storage.claim_next_job(now=T0 + timedelta(seconds=1)) is None  # Alice's waits
    claimed = await storage.claim_next_job(now=T0 + timedelta(seconds=2))
    assert claimed is not None and claimed.job_id == first.job_id
    assert [j.job_id for j in await storage.album_siblings(claimed)] == [second.job_id, third.job_id]
    await storage.finish_job(second.job_id, JobStatus.DONE)
    assert [j.job_id for j in await storage.album_siblings(claimed)] == [third.job_id]
    lone = await storage.get_job(first.job_id + 4)
    assert lone is not None and lone.album_id is None and await storage.album_siblings(lone) == []


async def test_delete_one_result_and_its_job_only_for_its_owner(storage: Storage) -> None:
    kept = await add_result(storage, ALICE, 1)
    gone = await add_result(storage, ALICE, 2)
    await storage.finish_job(gone.job_id, JobStatus.DONE)
    assert not await storage.delete_result(BOB, gone.result_id)  # not Bob's to delete
    assert await storage.get_result(ALICE, gone.result_id) is not None
    assert await storage.delete_result(ALICE, gone.result_id)
    assert await storage.get_result(ALICE, gone.result_id) is None
    assert await storage.get_job(gone.job_id) is None  # the photo's file id goes with it
    assert not await storage.delete_result(ALICE, gone.result_id)  # twice: nothing left
    assert [r.result_id for r in await storage.list_results(ALICE)] == [kept.result_id]
    assert await storage.get_job(kept.job_id) is not None


async def test_enqueue_concurrent_duplicates_insert_once(storage: Storage) -> None:
    outcomes = await asyncio.gather(*(enqueue(storage, ALICE, 42) for _ in range(8)))
    assert sorted(dup for _, dup in outcomes) == [False] + [True] * 7
    assert len({job.job_id for job, _ in outcomes}) == 1


async def test_claim_per_user_order_and_no_second_running_job(storage: Storage) -> None:
    a1, _ = await enqueue(storage, ALICE, 1, now=T0)
    b1, _ = await enqueue(storage, BOB, 1, now=T0 + timedelta(seconds=1))
    a2, _ = await enqueue(storage, ALICE, 2, now=T0 + timedelta(seconds=2))
    now = T0 + timedelta(minutes=1)

    first = await storage.claim_next_job(now=now)
    assert first is not None and first.job_id == a1.job_id
    assert first.status is JobStatus.RUNNING
    # Alice has a running job: her next photo waits; Bob's is claimed.
    second = await storage.claim_next_job(now=now)
    assert second is not None and second.job_id == b1.job_id
    assert await storage.claim_next_job(now=now) is None
    assert await storage.claim_next_job(ALICE, now=now) is None

    assert await storage.finish_job(a1.job_id, JobStatus.DONE, now=now)
    third = await storage.claim_next_job(ALICE, now=now)
    assert third is not None and third.job_id == a2.job_id


async def test_claim_respects_next_attempt_and_strict_user_order(storage: Storage) -> None:
    a1, _ = await enqueue(storage, ALICE, 1)
    a2, _ = await enqueue(storage, ALICE, 2)
    claimed = await storage.claim_next_job(now=T0)
    assert claimed is not None and claimed.job_id == a1.job_id

    later = T0 + timedelta(minutes=5)
    resched = await storage.reschedule_job(a1.job_id, "timeout", later, now=T0)
    assert resched is not None
    assert resched.status is JobStatus.PENDING
    assert resched.attempts == 1
    assert resched.last_error == "timeout"
    assert resched.next_attempt_at == later

    # a1 is backing off; a2 must not overtake it.
    assert await storage.claim_next_job(now=T0 + timedelta(minutes=1)) is None
    again = await storage.claim_next_job(now=later)
    assert again is not None and again.job_id == a1.job_id and again.attempts == 1
    assert await storage.finish_job(a1.job_id, "failed", error="gave up", now=later)
    nxt = await storage.claim_next_job(now=later)
    assert nxt is not None and nxt.job_id == a2.job_id
    failed = await storage.get_job(a1.job_id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.last_error == "gave up"


async def test_concurrent_claimers_never_double_claim(storage: Storage, backend: Backend) -> None:
    users = [ALICE, BOB, 333_333_003]
    for msg in range(1, 4):
        for user in users:
            await enqueue(storage, user, msg)

    # Same connection, many coroutines.
    claims = await asyncio.gather(*(storage.claim_next_job(now=T0) for _ in range(10)))
    got = [job for job in claims if job is not None]
    assert len(got) == len(users)  # one running job per user, no more
    assert len({job.job_id for job in got}) == len(got)
    assert sorted(job.user_id for job in got) == sorted(users)
    assert all(job.message_id == 1 for job in got)  # each user's oldest first

    # A second connection (another process) competing with the first.
    async with await backend.open() as other:
        for job in got:
            await storage.finish_job(job.job_id, "done", now=T0)
        mixed = await asyncio.gather(
            *(st.claim_next_job(now=T0) for st in [storage, other] * 5)
        )
    got2 = [job for job in mixed if job is not None]
    assert len(got2) == len(users)
    assert len({job.job_id for job in got2}) == len(got2)
    assert all(job.message_id == 2 for job in got2)


async def test_finish_is_idempotent_and_rejects_non_terminal(storage: Storage) -> None:
    job, _ = await enqueue(storage, ALICE, 1)
    assert await storage.claim_next_job(now=T0) is not None
    assert await storage.finish_job(job.job_id, JobStatus.REJECTED, now=T0)
    assert not await storage.finish_job(job.job_id, JobStatus.DONE, now=T0)
    stored = await storage.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.REJECTED
    assert await storage.reschedule_job(job.job_id, "x", T0) is None
    with pytest.raises(ValueError):
        await storage.finish_job(job.job_id, JobStatus.RUNNING)
    assert not await storage.finish_job(999_999, "done")


async def test_mark_answered_once(storage: Storage) -> None:
    job, _ = await enqueue(storage, ALICE, 1)
    assert not job.answered
    results = await asyncio.gather(*(storage.mark_answered(job.job_id, now=T0) for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert not await storage.mark_answered(job.job_id)
    stored = await storage.get_job(job.job_id)
    assert stored is not None and stored.answered and stored.answered_at == T0
    assert not await storage.mark_answered(424242)


async def test_status_message_id(storage: Storage) -> None:
    job, _ = await enqueue(storage, ALICE, 1)
    assert job.status_message_id is None
    assert await storage.set_status_message(job.job_id, 5555)
    stored = await storage.get_job(job.job_id)
    assert stored is not None and stored.status_message_id == 5555
    assert await storage.set_status_message(job.job_id, None)
    stored = await storage.get_job(job.job_id)
    assert stored is not None and stored.status_message_id is None


async def test_recover_after_close_without_finishing(backend: Backend) -> None:
    async with await backend.open() as st:
        job, _ = await enqueue(st, ALICE, 1)
        await enqueue(st, ALICE, 2)
        claimed = await st.claim_next_job(now=T0)
        assert claimed is not None and claimed.job_id == job.job_id
        # "crash": close without finishing

    async with await backend.open() as st:
        assert await st.claim_next_job(now=T0) is None  # still marked running
        recovered = await st.recover_running_jobs(now=T0 + timedelta(minutes=1))
        assert [j.job_id for j in recovered] == [job.job_id]
        assert recovered[0].status is JobStatus.PENDING
        assert [j.message_id for j in await st.pending_jobs()] == [1, 2]
        again = await st.claim_next_job(now=T0 + timedelta(minutes=1))
        assert again is not None and again.job_id == job.job_id
        if not st.recovery_is_replica_safe:  # SQLite: every running job, its own included
            assert await st.recover_running_jobs() != []
        else:  # PostgreSQL: a live instance's running job is never taken from it
            assert await st.recover_running_jobs() == []


async def test_recover_after_hard_crash(backend: Backend) -> None:
    """A process that dies without closing anything (os._exit) loses no queue state."""
    async with await backend.open() as st:
        job, _ = await enqueue(st, ALICE, 1)

    script = textwrap.dedent(
        f"""
        import asyncio, os
        from datetime import datetime, UTC
        from bot.storage import Storage

        async def main():
            st = await Storage.open({str(backend.target)!r})
            job = await st.claim_next_job(now=datetime(2026, 11, 26, 6, tzinfo=UTC))
            assert job is not None
            os._exit(17)  # no close, no finish

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=PROJECT_ROOT, timeout=60, check=False
    )
    assert proc.returncode == 17
    await backend.settle()

    async with await backend.open() as st:
        stuck = await st.get_job(job.job_id)
        assert stuck is not None and stuck.status is JobStatus.RUNNING
        assert [j.job_id for j in await st.recover_running_jobs(now=T0)] == [job.job_id]
        again = await st.claim_next_job(now=T0)
        assert again is not None and again.job_id == job.job_id


# --------------------------------------------------------------------------- results


async def test_add_result_is_idempotent_per_job(storage: Storage) -> None:
    job, _ = await enqueue(storage, ALICE, 1)
    kwargs = dict(
        job_id=job.job_id,
        user_id=ALICE,
        domain="face",
        grade=Grade.MIDDLE,
        confidence=0.66,
        measurements={"lesion_count": 7, "lesion_density": 1.5},
        model_version="m1",
        now=T0,
    )
    first = await storage.add_result(**kwargs)  # type: ignore[arg-type]
    second = await storage.add_result(**{**kwargs, "grade": "HIGH"})  # type: ignore[arg-type]
    assert first is not None and second == first
    assert first.grade is Grade.MIDDLE and first.domain is Domain.FACE
    assert first.measurements == {"lesion_count": 7, "lesion_density": 1.5}
    assert first.annotated_file_id is None
    assert await storage.result_for_job(job.job_id) == first
    assert await storage.set_annotated_file_id(ALICE, first.result_id, "AgAD-annot")
    assert not await storage.set_annotated_file_id(BOB, first.result_id, "evil")
    stored = await storage.get_result(ALICE, first.result_id)
    assert stored is not None and stored.annotated_file_id == "AgAD-annot"

    # Another user's job, or a vanished job, yields no result.
    assert await storage.add_result(**{**kwargs, "user_id": BOB}) is None  # type: ignore[arg-type]
    assert await storage.add_result(**{**kwargs, "job_id": 98765}) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await storage.add_result(**{**kwargs, "domain": "auto"})  # type: ignore[arg-type]


async def test_user_isolation(storage: Storage) -> None:
    ra = await add_result(storage, ALICE, 1)
    rb = await add_result(storage, BOB, 1)
    assert await storage.get_result(ALICE, ra.result_id) == ra
    assert await storage.get_result(ALICE, rb.result_id) is None
    assert await storage.get_result(BOB, ra.result_id) is None
    assert [r.result_id for r in await storage.list_results(ALICE)] == [ra.result_id]
    assert [r.result_id for r in await storage.list_results(BOB)] == [rb.result_id]
    assert await storage.count_results(ALICE) == 1
    assert await storage.list_results(333) == []
    assert await storage.count_results(333) == 0


async def test_paging_newest_first_and_domain_filter(storage: Storage) -> None:
    made: list[Result] = []
    for i in range(7):
        domain = "scalp" if i % 2 == 0 else "face"
        made.append(
            await add_result(storage, ALICE, i, domain=domain, now=T0 + timedelta(days=i))
        )
    await add_result(storage, BOB, 100, now=T0 + timedelta(days=30))

    newest_first = [r.result_id for r in reversed(made)]
    assert await storage.count_results(ALICE) == 7
    pages = [
        [r.result_id for r in await storage.list_results(ALICE, limit=3, offset=off)]
        for off in (0, 3, 6)
    ]
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:]]
    assert await storage.list_results(ALICE, limit=3, offset=9) == []

    scalp = await storage.list_results(ALICE, "scalp", limit=10)
    assert [r.domain for r in scalp] == [Domain.SCALP] * 4
    assert await storage.count_results(ALICE, Domain.FACE) == 3
    with pytest.raises(ValueError):
        await storage.list_results(ALICE, limit=0)


async def test_trend_is_oldest_first(storage: Storage) -> None:
    # Inserted out of chronological order on purpose.
    for day, ratio in [(5, 0.30), (1, 0.10), (3, 0.20)]:
        await add_result(storage, ALICE, day, now=T0 + timedelta(days=day), ratio=ratio)
    await add_result(storage, ALICE, 9, domain="face", now=T0 + timedelta(days=2))
    trend = await storage.results_for_trend(ALICE, "scalp")
    assert [r.measurements["exposed_scalp_ratio"] for r in trend] == [0.10, 0.20, 0.30]
    assert [r.created_at for r in trend] == sorted(r.created_at for r in trend)
    assert [r.domain for r in await storage.results_for_trend(ALICE, "face")] == [Domain.FACE]
    assert await storage.results_for_trend(BOB, "scalp") == []


# --------------------------------------------------------------------------- reminders


async def test_reminders_due_bump_and_disable(storage: Storage) -> None:
    ra = await storage.set_reminder(ALICE, ALICE, now=T0)
    assert ra.enabled and ra.interval_days == 30
    assert ra.next_due_at == T0 + timedelta(days=30)
    rb = await storage.set_reminder(BOB, BOB, interval_days=7, now=T0)
    assert rb.next_due_at == T0 + timedelta(days=7)

    assert await storage.due_reminders(T0 + timedelta(days=6)) == []
    due = await storage.due_reminders(T0 + timedelta(days=7))
    assert [r.user_id for r in due] == [BOB]
    assert [r.user_id for r in await storage.due_reminders(T0 + timedelta(days=31))] == [BOB, ALICE]

    assert await storage.bump_reminder(BOB, T0 + timedelta(days=14), now=T0 + timedelta(days=7))
    assert [r.user_id for r in await storage.due_reminders(T0 + timedelta(days=8))] == []

    assert await storage.disable_reminder(BOB)
    assert not await storage.disable_reminder(BOB)
    assert not await storage.bump_reminder(BOB, T0)
    off = await storage.get_reminder(BOB)
    assert off is not None and not off.enabled and off.next_due_at is None
    assert [r.user_id for r in await storage.all_enabled_reminders()] == [ALICE]
    assert [r.user_id for r in await storage.due_reminders(T0 + timedelta(days=365))] == [ALICE]

    # Compare-and-set bump: of several sweepers of one due reminder, exactly one wins.
    due_at = (await storage.get_reminder(ALICE)).next_due_at  # type: ignore[union-attr]
    later = due_at + timedelta(days=30)  # type: ignore[operator]
    wins = await asyncio.gather(*(
        storage.bump_reminder(ALICE, later, expected=due_at, now=T0) for _ in range(5)))
    assert sorted(wins) == [False] * 4 + [True]
    assert (await storage.get_reminder(ALICE)).next_due_at == later  # type: ignore[union-attr]
    assert not await storage.bump_reminder(ALICE, later, expected=due_at)
    assert await storage.bump_reminder(ALICE, due_at, expected=later)  # bumped back

    # Re-enabling works and re-schedules.
    again = await storage.set_reminder(BOB, BOB, now=T0 + timedelta(days=40))
    assert again.enabled and again.next_due_at == T0 + timedelta(days=70)
    assert not await storage.disable_reminder(333)


# --------------------------------------------------------------------------- privacy


async def _rows_mentioning(backend: Backend, needle: int) -> list[tuple[str, tuple[object, ...]]]:
    """Every row of every table in which any column equals or contains ``needle``."""
    tables = await backend.tables()
    assert {"users", "jobs", "results", "reminders", "schema_version"} <= set(tables)
    hits = []
    for table, rows in tables.items():
        for row in rows:
            if any(v == needle or str(needle) in str(v) for v in row):
                hits.append((table, row))
    return hits


async def test_delete_user_data_leaves_no_row(backend: Backend) -> None:
    async with await backend.open() as st:
        for user in (ALICE, BOB):
            await st.upsert_user(user, user, "ko", now=T0)
            await add_result(st, user, 1)
            await add_result(st, user, 2, domain="face", grade="HIGH")
            job, _ = await enqueue(st, user, 3)
            await st.set_status_message(job.job_id, 77)
            await st.claim_next_job(user, now=T0)
            await enqueue(st, user, 4)  # still pending
            await st.set_reminder(user, user, now=T0)

        assert await _rows_mentioning(backend, ALICE)  # sanity: data is there
        counts = await st.delete_user_data(ALICE)
        assert counts == {"results": 2, "jobs": 4, "reminders": 1, "users": 1}
        assert await st.delete_user_data(ALICE) == {
            "results": 0,
            "jobs": 0,
            "reminders": 0,
            "users": 0,
        }
        assert await st.get_user(ALICE) is None
        assert await st.list_results(ALICE) == []

        # Bob is untouched.
        assert await st.count_results(BOB) == 2
        assert await st.get_reminder(BOB) is not None

    assert await _rows_mentioning(backend, ALICE) == []
    assert await _rows_mentioning(backend, BOB) != []


async def test_delete_while_job_in_flight(storage: Storage) -> None:
    job, _ = await enqueue(storage, ALICE, 1)
    assert await storage.claim_next_job(now=T0) is not None
    await storage.delete_user_data(ALICE)
    # The worker finishing the vanished job must not resurrect any data.
    result = await storage.add_result(
        job_id=job.job_id,
        user_id=ALICE,
        domain="scalp",
        grade="LOW",
        confidence=0.9,
        measurements={},
        model_version="m",
    )
    assert result is None
    assert not await storage.finish_job(job.job_id, "done")
    assert not await storage.mark_answered(job.job_id)
    assert await storage.get_job(job.job_id) is None


# --------------------------------------------------------------------------- durability


async def test_everything_survives_reopen(backend: Backend) -> None:
    async with await backend.open() as st:
        await st.upsert_user(ALICE, ALICE, "ko", now=T0)
        job, _ = await enqueue(st, ALICE, 1)
        result = await add_result(st, ALICE, 2, grade="MIDDLE")
        await st.mark_answered(job.job_id, now=T0)
        reminder = await st.set_reminder(ALICE, ALICE, now=T0)

    async with await backend.open() as st:
        user = await st.get_user(ALICE)
        assert user is not None and user.language == "ko" and user.first_seen == T0
        stored_job = await st.get_job(job.job_id)
        assert stored_job is not None and stored_job.answered
        assert stored_job.file_id == job.file_id and stored_job.update_id == job.update_id
        assert await st.get_result(ALICE, result.result_id) == result
        assert await st.get_reminder(ALICE) == reminder
        # duplicates are still detected after a restart
        _, dup = await enqueue(st, ALICE, 1)
        assert dup


async def test_close_is_idempotent(backend: Backend) -> None:
    st = await backend.open()
    await st.close()
    await st.close()


async def test_failed_transaction_rolls_back_and_storage_stays_usable(
    storage: Storage, backend: Backend
) -> None:
    with pytest.raises(RuntimeError):
        async with storage._write() as conn:  # noqa: SLF001 - the transaction helper itself
            await backend.insert_user_raw(conn, ALICE, T0)
            raise RuntimeError("boom")
    assert await storage.get_user(ALICE) is None
    job, dup = await enqueue(storage, ALICE, 1)
    assert not dup and (await storage.get_user(ALICE)) is not None


async def test_a_version_1_database_is_upgraded_in_place(db_path: Path) -> None:
    """A database made before /scalp and /face keeps its users, each now on "auto"."""
    from bot.storage.sql import SQLITE_MIGRATIONS, SqliteSQL

    db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(db_path)
    try:
        con.execute(SqliteSQL.CREATE_SCHEMA_VERSION)
        version, statements = SQLITE_MIGRATIONS[0]
        for statement in statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES (?, ?)", (version, T0.isoformat()))
        con.execute("INSERT INTO users VALUES (?, ?, ?, NULL)", (ALICE, ALICE, T0.isoformat()))
        con.commit()
    finally:
        con.close()
    async with await Storage.open(db_path) as st:
        assert await st.schema_version() == SCHEMA_VERSION == 3
        assert (await st.get_user(ALICE)).check_mode == "auto"
        assert (await st.set_check_mode(ALICE, ALICE, "face")).check_mode == "face"
