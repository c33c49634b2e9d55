"""The durable job worker (bot/jobs/) and the reminder sweep (bot/reminders.py) with a fake
Bot and a scripted inference client (tests/fakes/bot.py).

Real SQLite storage in tmp_path; no network. The several-replica checks (reminders swept by
two replicas at once, jobs of a dead replica taken over) also run on a fresh database of a real
PostgreSQL server (tests/fakes/postgres.py: skipped without one, failed under CI=true). The
end-to-end behaviour through the local Bot API server and the real service is in
tests/bot/test_e2e.py.
"""
from __future__ import annotations

import asyncio
import itertools
import warnings
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.inference_client import (
    AnalysisResult,
    FinalInferenceError,
    RetryableInferenceError,
)
from bot.jobs import Answer, JobWorker, Reply, Retry, RetryPolicy, sniff_image
from bot.jobs.apply import OutcomeApplier
from bot.jobs.dispatch import IDLE_POLL_SECONDS
from bot.jobs.photo import PhotoJob
from bot.reminders import sweep_reminders
from bot.storage import JobStatus, Storage, utcnow
from tests.fakes.bot import ANNOTATED, FakeBot, ScriptedInference, graded
from tests.fakes.postgres import fresh_database, require_postgres

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64
USER, OTHER = 1001, 1002


# --- RetryPolicy --------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base=2.0, cap=60.0, jitter=0.2)
    no_jitter = [policy.delay(n, rng=lambda: 0.0) for n in range(1, 9)]
    assert no_jitter == [2, 4, 8, 16, 32, 60, 60, 60]
    full_jitter = [policy.delay(n, rng=lambda: 1.0) for n in range(1, 4)]
    assert full_jitter == pytest.approx([1.6, 3.2, 6.4])
    assert policy.delay(10_000, rng=lambda: 0.0) == 60  # no overflow


def test_backoff_respects_retry_after_within_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base=1.0, cap=30.0)
    assert policy.delay(1, retry_after=12, rng=lambda: 0.0) == 12
    assert policy.delay(1, retry_after=500, rng=lambda: 0.0) == 30
    assert policy.delay(5, retry_after=0.5, rng=lambda: 0.0) == 16


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, base=1.0, cap=2.0)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    with pytest.raises(ValueError):
        policy.delay(0)


def test_sniff_image_by_magic_bytes() -> None:
    assert sniff_image(JPEG) == "image/jpeg"
    assert sniff_image(PNG) == "image/png"
    assert sniff_image(WEBP) == "image/webp"
    assert sniff_image(b"%PDF-1.7") is None
    assert sniff_image(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None


@pytest.fixture
async def storage(tmp_path):
    async with await Storage.open(tmp_path / "bot.sqlite3") as s:
        yield s


def make_worker(storage: Storage, bot: FakeBot, inference: Any, *, attempts: int = 5,
                concurrency: int = 4) -> JobWorker:
    return JobWorker(
        storage, inference, bot, concurrency=concurrency,
        policy=RetryPolicy(attempts, base=0.01, cap=0.05), notice_after=30.0,
    )


async def enqueue(storage: Storage, bot: FakeBot, message_id: int, data: bytes = JPEG,
                  user: int = USER) -> int:
    file_id = f"file-{user}-{message_id}"
    bot.files[file_id] = data
    job, duplicate = await storage.enqueue_job(
        user_id=user, chat_id=user, message_id=message_id, file_id=file_id,
        file_unique_id=f"u-{file_id}",
    )
    assert not duplicate
    return job.job_id


async def finished(storage: Storage, job_id: int, timeout: float = 10.0) -> Any:
    async def poll() -> Any:
        while True:
            job = await storage.get_job(job_id)
            if job is None or job.status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.REJECTED):
                return job
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(poll(), timeout)


# --- the worker -------------------------------------------------------------------------------


async def test_answers_once_and_stores_the_sent_file_id(storage) -> None:
    bot, inference = FakeBot(), ScriptedInference(graded())
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 7)
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.DONE and job.answered
    (kind, _, photo), *rest = bot.sent
    assert kind == "photo" and photo["photo"] == ANNOTATED
    assert "두피 점검 결과" in photo["caption"] and "진행 중" in photo["caption"]
    assert photo["reply_parameters"].message_id == 7
    assert [[b.callback_data for b in row] for row in photo["reply_markup"].inline_keyboard] == [
        ["tips:scalp:MIDDLE"], [f"rerun:{job_id}:face"]]
    assert [k for k, *_ in rest if k != "delete"] == []  # one answer: the long tips on request
    [result] = await storage.list_results(USER)
    assert result.annotated_file_id == f"sent-photo-{photo['message_id']}"
    assert inference.calls == [(JPEG, "auto")]


async def test_retries_with_one_delay_notice_then_answers(storage) -> None:
    down = RetryableInferenceError("unreachable", "connection refused")
    bot, inference = FakeBot(), ScriptedInference(down, down, graded())
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 3)
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.DONE and job.attempts == 2
    assert "connection refused" in job.last_error
    texts = [f.get("text", "") for kind, _, f in bot.sent if kind in ("text", "edit")]
    assert sum("지연" in t for t in texts) == 1
    assert bot.kinds(USER).count("photo") == 1
    # the delay notice was the status message: gone once the answer is out
    assert bot.kinds(USER)[-1] == "delete"


async def test_gives_up_after_max_attempts(storage) -> None:
    bot = FakeBot()
    inference = ScriptedInference(RetryableInferenceError("busy", "503", status=503))
    worker = make_worker(storage, bot, inference, attempts=3)
    job_id = await enqueue(storage, bot, 4)
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.FAILED and job.attempts == 2 and job.answered
    assert len(inference.calls) == 3
    texts = [f["text"] for kind, _, f in bot.sent if kind == "text"]
    assert any("분석하지 못했어요" in t for t in texts)
    assert await storage.list_results(USER) == []


async def test_final_service_error_is_explained_not_retried(storage) -> None:
    bot = FakeBot()
    inference = ScriptedInference(FinalInferenceError("domain_unavailable", "no face", 400))
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 5)
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.REJECTED and job.attempts == 0
    [(kind, _, reply)] = bot.sent
    assert "아직 준비 중" in reply["text"]
    labels = [b.text for b in reply["reply_markup"].inline_keyboard[0]]
    assert labels == ["두피 점검으로 다시", "피부 점검으로 다시"]


async def test_not_an_image_after_download(storage) -> None:
    bot, inference = FakeBot(), ScriptedInference(graded())
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 6, data=b"%PDF-1.7 pretending to be image/png")
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.REJECTED and inference.calls == []
    assert "이미지가 아니어서" in bot.sent[0][2]["text"]


async def test_an_answered_job_is_not_answered_again(storage) -> None:
    """A crash after the reply went out but before the job was finished."""
    bot, inference = FakeBot(), ScriptedInference(graded())
    job_id = await enqueue(storage, bot, 8)
    await storage.claim_next_job()
    await storage.mark_answered(job_id)
    worker = make_worker(storage, bot, inference)
    await worker.start()  # recovers the "running" job
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.DONE
    assert bot.sent == [] and inference.calls == []


async def test_delete_during_analysis_drops_the_job_quietly(storage) -> None:
    gate = asyncio.Event()

    async def wait_for_delete() -> AnalysisResult:
        await gate.wait()
        return graded()

    bot = FakeBot()
    inference = ScriptedInference(wait_for_delete)
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 9)
    await worker.start()
    try:
        while not inference.calls:
            await asyncio.sleep(0.01)
        counts = await storage.delete_user_data(USER)
        assert counts["jobs"] == 1
        gate.set()
        assert await finished(storage, job_id) is None
        while worker.busy:
            await asyncio.sleep(0.01)
    finally:
        await worker.stop()
    assert [k for k in bot.kinds(USER) if k != "delete"] == []
    assert await storage.count_results(USER) == 0


async def test_one_users_photos_in_order_while_others_run_alongside(storage) -> None:
    started: list[str] = []
    release = asyncio.Event()

    class Recording(ScriptedInference):
        async def analyze(self, image: bytes, domain: str = "auto", **kw: Any) -> AnalysisResult:
            started.append(image.decode(errors="ignore")[-2:])
            if len(started) == 2:
                release.set()  # the second user started while the first is still busy
            await release.wait()
            return graded()

    bot = FakeBot()
    worker = make_worker(storage, bot, Recording(graded()), concurrency=4)
    first = [await enqueue(storage, bot, n, JPEG + f"a{n}".encode()) for n in (1, 2, 3)]
    other = await enqueue(storage, bot, 1, JPEG + b"b1", user=OTHER)
    await worker.start()
    try:
        for job_id in [*first, other]:
            assert (await finished(storage, job_id)).status == JobStatus.DONE
    finally:
        await worker.stop()
    assert started[:2] == ["a1", "b1"]
    assert [s for s in started if s.startswith("a")] == ["a1", "a2", "a3"]
    replies = [f["reply_parameters"].message_id for k, c, f in bot.sent if k == "photo" and c == USER]
    assert replies == [1, 2, 3]


async def test_a_backing_off_job_does_not_stall_the_users_next_one(storage) -> None:
    """The dispatcher sleeps only until the backing-off job is due, not a full idle period."""
    down = RetryableInferenceError("unreachable", "connection refused")
    bot, inference = FakeBot(), ScriptedInference(down, graded(), graded())
    worker = make_worker(storage, bot, inference)
    first = await enqueue(storage, bot, 1)
    second = await enqueue(storage, bot, 2)
    await worker.start()
    try:
        for job_id in (first, second):
            assert (await finished(storage, job_id, timeout=3.0)).status == JobStatus.DONE
    finally:
        await worker.stop()
    assert [f["reply_parameters"].message_id for k, _, f in bot.sent if k == "photo"] == [1, 2]


async def test_uncertain_keeps_the_rerun_buttons_and_explains(storage) -> None:
    bot, inference = FakeBot(), ScriptedInference(graded("scalp", "UNCERTAIN"))
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 11)
    await worker.start()
    try:
        assert (await finished(storage, job_id)).status == JobStatus.DONE
    finally:
        await worker.stop()
    # one answer: the retake tips are in the caption, not repeated in a second message
    [(_, _, photo)] = [s for s in bot.sent if s[0] in ("photo", "text")]
    assert "판단 어려움" in photo["caption"] and "결과가 나쁘다는 뜻은 아니에요" in photo["caption"]
    assert [[b.text for b in row] for row in photo["reply_markup"].inline_keyboard] == [["피부 점검으로 다시"]]
    [result] = await storage.list_results(USER)
    assert result.grade == "UNCERTAIN"


async def test_quality_refusal_offers_both_domains_when_unrouted(storage) -> None:
    refused = AnalysisResult.from_json({
        "domain": None, "grade": None, "confidence": None,
        "quality": {"ok": False, "reasons": ["blurry"], "metrics": {}},
        "regions": [], "measurements": None, "model_version": "scalp:test",
        "timings_ms": {"total": 5.0}, "annotated_jpeg": None,
    })
    bot, inference = FakeBot(), ScriptedInference(refused)
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 12)
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.REJECTED and job.answered
    [(kind, _, reply)] = bot.sent
    assert kind == "text" and "사진이 흐려요" in reply["text"]
    assert [b.callback_data for b in reply["reply_markup"].inline_keyboard[0]] == [
        f"rerun:{job_id}:scalp", f"rerun:{job_id}:face"]
    assert await storage.list_results(USER) == []


async def test_a_job_falling_due_between_claim_and_sleep_is_not_missed(storage) -> None:
    """The dispatcher's idle time is computed against the claim's own clock reading."""
    from datetime import timedelta

    from bot.storage import utcnow

    bot = FakeBot()
    job_id = await enqueue(storage, bot, 1)
    claimed_at = utcnow()
    await storage.claim_next_job(now=claimed_at)
    await storage.reschedule_job(job_id, "down", claimed_at + timedelta(milliseconds=10))
    later = claimed_at + timedelta(seconds=1)  # the clock moved on: the job is due now
    worker = JobWorker(storage, ScriptedInference(graded()), bot, concurrency=1,
                       policy=RetryPolicy(3, 0.01, 0.05), notice_after=30.0, now=lambda: later)
    assert await worker._idle_timeout(claimed_at) == 0.0
    assert await worker._idle_timeout(later) == 30.0  # nothing due after the next claim


# --- one photo's outcome, and where it is applied -----------------------------------------------


def retake() -> AnalysisResult:
    return AnalysisResult.from_json({
        "domain": None, "grade": None, "confidence": None,
        "quality": {"ok": False, "reasons": ["blurry"], "metrics": {}},
        "regions": [], "measurements": None, "model_version": "scalp:test",
        "timings_ms": {"total": 5.0}, "annotated_jpeg": None,
    })


class RefusingBot(FakeBot):
    """A FakeBot whose getFile or sends fail with the given Telegram errors."""

    def __init__(self, *, get_file: Exception | None = None, send: Exception | None = None) -> None:
        super().__init__()
        self.get_file_error, self.send_error = get_file, send

    async def get_file(self, file_id: str) -> Any:
        if self.get_file_error is not None:
            raise self.get_file_error
        return await super().get_file(file_id)

    async def send_message(self, chat_id: int, text: str, **kw: Any) -> Any:
        if self.send_error is not None:
            raise self.send_error
        return await super().send_message(chat_id, text, **kw)

    async def send_photo(self, chat_id: int, photo: bytes, **kw: Any) -> Any:
        if self.send_error is not None:
            raise self.send_error
        return await super().send_photo(chat_id, photo, **kw)


async def test_one_photo_comes_to_an_outcome_value_and_sends_nothing(storage) -> None:
    async def outcome(data: bytes, answer: Any, bot: FakeBot | None = None) -> Any:
        bot = bot or FakeBot()
        await enqueue(storage, bot, next(message_ids), data)
        job = await storage.claim_next_job()
        result = await PhotoJob(bot, ScriptedInference(answer)).run(job)
        await storage.finish_job(job.job_id, JobStatus.DONE)
        assert bot.sent == []
        return result

    message_ids = itertools.count(1)
    answer = await outcome(JPEG, graded())
    assert isinstance(answer, Answer)
    assert (answer.domain, answer.grade, answer.confidence) == ("scalp", "MIDDLE", 0.77)
    assert "진행 중" in answer.caption and answer.markup is not None
    assert [[b.callback_data for b in row] for row in answer.markup.inline_keyboard][0] == ["tips:scalp:MIDDLE"]
    unsupported = await outcome(b"%PDF-1.7", graded())
    assert unsupported == Reply(JobStatus.REJECTED, "unsupported", {"kind": "document"},
                                error="not a JPEG, PNG or WebP file")
    advice = await outcome(PNG, retake())
    assert isinstance(advice, Reply) and advice.template == "quality_retake"
    assert advice.status == JobStatus.REJECTED and advice.context == {"reasons": ["blurry"]}
    assert advice.analysis is not None
    busy = await outcome(WEBP, RetryableInferenceError("busy", "503", status=503, retry_after=7.0))
    assert isinstance(busy, Retry) and busy.retry_after == 7.0 and "busy" in busy.error
    too_big = await outcome(JPEG, graded(), RefusingBot(get_file=BadRequest("File is too big")))
    assert isinstance(too_big, Reply) and too_big.template == "too_big"
    offline = await outcome(JPEG, graded(), RefusingBot(get_file=NetworkError("reset")))
    assert isinstance(offline, Retry) and offline.error == "telegram download: reset"


async def test_a_user_who_blocked_the_bot_gets_no_answer_and_the_job_fails(storage) -> None:
    bot = RefusingBot(send=Forbidden("bot was blocked by the user"))
    worker = make_worker(storage, bot, ScriptedInference(graded()))
    job_id = await enqueue(storage, bot, 21)
    await worker.start()
    try:
        job = await finished(storage, job_id)
    finally:
        await worker.stop()
    assert job.status == JobStatus.FAILED and not job.answered and job.attempts == 0
    assert job.last_error.startswith("forbidden:")
    assert bot.sent == []


async def test_a_flooded_reply_waits_as_long_as_telegram_asks(storage) -> None:
    with warnings.catch_warnings():  # PTB 22.2+ warns about retry_after's type in the constructor
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        flood = RetryAfter(3)
    bot = RefusingBot(send=flood)
    applier = OutcomeApplier(bot, storage, RetryPolicy(5, base=0.01, cap=60.0))
    await enqueue(storage, bot, 22)
    job = await storage.claim_next_job()
    before = utcnow()
    await applier.apply(job, Reply(JobStatus.REJECTED, "unsupported", {"kind": "document"}), None)
    job = await storage.get_job(job.job_id)
    assert job.status == JobStatus.PENDING and job.attempts == 1 and not job.answered
    assert "flood" in job.last_error
    assert (job.next_attempt_at - before).total_seconds() >= 3.0


# --- several replicas on one database -------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return require_postgres()


@pytest.fixture
async def dsn(postgres_server: str):
    async with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path):
    """What ``Storage.open`` takes: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "shared.sqlite3"
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield url


class ReminderBot(FakeBot):
    """A FakeBot whose sends take a moment (so concurrent sweeps interleave), or fail."""

    def __init__(self, *failures: Exception) -> None:
        super().__init__()
        self.failures = list(failures)

    async def send_message(self, chat_id: int, text: str, **kw: Any) -> Any:
        for _ in range(3):
            await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        return await super().send_message(chat_id, text, **kw)


def sweep_context(storage: Storage, bot: FakeBot) -> Any:
    """What sweep_reminders uses of the JobQueue's BotContext."""
    return SimpleNamespace(services=SimpleNamespace(storage=storage), bot=bot)


async def test_two_replicas_sweeping_at_once_send_each_due_reminder_once(database) -> None:
    from datetime import timedelta

    users = [5000 + n for n in range(12)]
    a, b = await Storage.open(database), await Storage.open(database)
    try:
        past = utcnow() - timedelta(minutes=5)
        for n, user in enumerate(users):
            await a.set_reminder(user, user, interval_days=30,
                                 next_due_at=past - timedelta(seconds=n))
        # Both replicas read the same due list before either sends anything: without a claim
        # in the database each would send all twelve.
        barrier = asyncio.Barrier(2)
        for st in (a, b):
            read = st.due_reminders

            async def due_together(now: Any = None, read: Any = read) -> Any:
                due = await read(now)
                await barrier.wait()
                return due

            st.due_reminders = due_together  # type: ignore[method-assign]
        bot_a, bot_b = ReminderBot(), ReminderBot()
        before = utcnow()
        await asyncio.gather(sweep_reminders(sweep_context(a, bot_a)),
                             sweep_reminders(sweep_context(b, bot_b)))
        sent = [chat for kind, chat, _ in bot_a.sent + bot_b.sent if kind == "text"]
        assert sorted(sent) == users  # each once, whichever replica sent it
        for user in users:
            reminder = await a.get_reminder(user)
            assert reminder.next_due_at >= before + timedelta(days=30) - timedelta(seconds=1)
        # Nothing is due any more: a second concurrent round sends nothing.
        await asyncio.gather(sweep_reminders(sweep_context(a, bot_a)),
                             sweep_reminders(sweep_context(b, bot_b)))
        assert len(bot_a.sent) + len(bot_b.sent) == len(users)
    finally:
        await a.close()
        await b.close()


async def test_a_reminder_that_could_not_be_sent_is_retried_at_the_next_sweep(storage) -> None:
    from datetime import timedelta

    due = utcnow() - timedelta(minutes=1)
    await storage.set_reminder(USER, USER, interval_days=30, next_due_at=due)
    bot = ReminderBot(NetworkError("connection reset"))
    await sweep_reminders(sweep_context(storage, bot))
    assert bot.sent == []
    assert (await storage.get_reminder(USER)).next_due_at == due  # the claim was given back
    await sweep_reminders(sweep_context(storage, bot))
    assert bot.kinds(USER) == ["text"]
    assert (await storage.get_reminder(USER)).next_due_at > utcnow() + timedelta(days=29)


async def test_a_user_who_blocked_the_bot_has_the_reminder_switched_off(storage) -> None:
    from datetime import timedelta

    await storage.set_reminder(USER, USER, next_due_at=utcnow() - timedelta(minutes=1))
    bot = ReminderBot(Forbidden("bot was blocked by the user"))
    await sweep_reminders(sweep_context(storage, bot))
    reminder = await storage.get_reminder(USER)
    assert not reminder.enabled and bot.sent == []


def count_recoveries(storage: Storage) -> list[int]:
    """Wrap ``storage.recover_running_jobs``; the list grows by one per call."""
    calls: list[int] = []
    recover = storage.recover_running_jobs

    async def counted(**kw: Any) -> Any:
        calls.append(1)
        return await recover(**kw)

    storage.recover_running_jobs = counted  # type: ignore[method-assign]
    return calls


async def test_sqlite_recovers_only_at_start_up(storage) -> None:
    """SQLite's recovery resets every running job, this process's own ones too."""
    gate = asyncio.Event()

    async def held() -> AnalysisResult:
        await gate.wait()
        return graded()

    calls = count_recoveries(storage)
    bot, inference = FakeBot(), ScriptedInference(held, graded())
    worker = JobWorker(storage, inference, bot, concurrency=2,
                       policy=RetryPolicy(3, 0.01, 0.05), notice_after=30.0,
                       recovery_interval=0.05)
    job_id = await enqueue(storage, bot, 1)
    await worker.start()
    try:
        while not inference.calls:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # ten recovery periods with the job in flight
        assert (await storage.get_job(job_id)).status == JobStatus.RUNNING
        gate.set()
        assert (await finished(storage, job_id)).status == JobStatus.DONE
    finally:
        await worker.stop()
    assert len(calls) == 1  # start() only
    assert len(inference.calls) == 1 and bot.kinds(USER).count("photo") == 1


async def test_a_dead_replicas_job_is_taken_over_within_the_recovery_period(dsn) -> None:
    period = 0.3
    a, b = await Storage.open(dsn), await Storage.open(dsn)
    calls = count_recoveries(b)
    bot = FakeBot()
    worker = JobWorker(b, ScriptedInference(graded()), bot, concurrency=2,
                       policy=RetryPolicy(3, 0.01, 0.05), notice_after=30.0,
                       recovery_interval=period)
    try:
        job_id = await enqueue(a, bot, 1)
        assert (await a.claim_next_job()).job_id == job_id  # replica a is working on it
        await worker.start()
        await asyncio.sleep(4 * period)  # a is alive: b's recoveries leave its job alone
        assert len(calls) >= 3
        assert (await b.get_job(job_id)).status == JobStatus.RUNNING and bot.sent == []
        await a.close()  # replica a dies: its connection, and with it its owner lock, is gone
        loop = asyncio.get_running_loop()
        died = loop.time()
        job = await finished(b, job_id, timeout=10.0)
        took = loop.time() - died
    finally:
        await worker.stop()
        await a.close()
        await b.close()
    assert job.status == JobStatus.DONE and job.answered
    assert bot.kinds(USER).count("photo") == 1
    # Nothing else wakes b's dispatcher (it would idle for IDLE_POLL_SECONDS): the periodic
    # recovery found the orphan within about one period (generous for a busy CPU).
    assert took < IDLE_POLL_SECONDS / 3, took


async def test_a_replica_that_lost_its_owner_lock_does_not_run_its_job_twice(dsn) -> None:
    """Its own periodic recovery sees its in-flight job as orphaned and re-claims it."""
    gate = asyncio.Event()

    async def held() -> AnalysisResult:
        await gate.wait()
        return graded()

    st = await Storage.open(dsn)
    calls = count_recoveries(st)
    bot, inference = FakeBot(), ScriptedInference(held, graded())
    worker = JobWorker(st, inference, bot, concurrency=2, policy=RetryPolicy(3, 0.01, 0.05),
                       notice_after=30.0, recovery_interval=0.1)
    try:
        job_id = await enqueue(st, bot, 1)
        await worker.start()
        while not inference.calls:
            await asyncio.sleep(0.01)
        owner_conn = st._owner_conn  # type: ignore[attr-defined]  # noqa: SLF001
        admin = await asyncpg.connect(dsn)
        try:  # the connection holding this replica's owner lock dies (e.g. a network cut)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)",
                                        owner_conn.get_server_pid())
        finally:
            await admin.close()
        seen = len(calls)
        while len(calls) < seen + 3:  # several recoveries and claims while the job still runs
            await asyncio.sleep(0.05)
        gate.set()
        job = await finished(st, job_id)
    finally:
        await worker.stop()
        await st.close()
    assert job.status == JobStatus.DONE
    assert len(inference.calls) == 1
    assert bot.kinds(USER).count("photo") == 1


async def test_a_photo_that_could_be_either_is_asked_about_and_not_stored(storage) -> None:
    """could_be names two checks: the user is asked (두피 점검 / 피부 점검) and nothing is
    stored; the buttons re-run this photo as the chosen domain."""
    bot, inference = FakeBot(), ScriptedInference(graded("scalp", "HIGH", ("scalp", "face")))
    worker = make_worker(storage, bot, inference)
    job_id = await enqueue(storage, bot, 13)
    await worker.start()
    try:
        assert (await finished(storage, job_id)).status == JobStatus.DONE
    finally:
        await worker.stop()
    [(kind, _, message)] = [s for s in bot.sent if s[0] in ("photo", "text")]
    assert kind == "text" and "어느 쪽을 점검할까요?" in message["text"]
    [row] = message["reply_markup"].inline_keyboard
    assert [(b.text, b.callback_data) for b in row] == [
        ("두피 점검", f"pick:{job_id}:scalp"), ("피부 점검", f"pick:{job_id}:face")]
    assert await storage.list_results(USER) == []


async def test_a_photo_sent_for_a_check_is_not_asked_about(storage) -> None:
    bot, inference = FakeBot(), ScriptedInference(graded("scalp", "HIGH", ("scalp", "face")))
    worker = make_worker(storage, bot, inference)
    bot.files["file-x"] = JPEG
    job, _ = await storage.enqueue_job(user_id=USER, chat_id=USER, message_id=14, file_id="file-x",
                                       file_unique_id="u-x", domain="scalp")
    await worker.start()
    try:
        assert (await finished(storage, job.job_id)).status == JobStatus.DONE
    finally:
        await worker.stop()
    assert [s[0] for s in bot.sent if s[0] in ("photo", "text")][0] == "photo"
    assert inference.calls[-1][1] == "scalp"
    [result] = await storage.list_results(USER)
    assert result.grade == "HIGH"


# --- albums -------------------------------------------------------------------------------------


async def enqueue_album(storage: Storage, bot: FakeBot, message_ids: tuple[int, ...], album: str) -> list[int]:
    """The photos of one media group, as the handler enqueues them (no settle delay here)."""
    ids = []
    for message_id in message_ids:
        file_id = f"file-{USER}-{message_id}"
        bot.files[file_id] = JPEG
        job, _ = await storage.enqueue_job(
            user_id=USER, chat_id=USER, message_id=message_id, file_id=file_id,
            file_unique_id=f"u-{file_id}", album_id=album)
        ids.append(job.job_id)
    return ids


async def test_an_album_gets_one_answer_and_each_photo_its_result(storage) -> None:
    """Three photos of one media group: one picture with one caption, two results stored (the
    blurry photo is named in the caption, not stored), every job answered and finished."""
    bot = FakeBot()
    inference = ScriptedInference(graded("scalp", "MIDDLE"), graded("scalp", "HIGH"), retake(),
                                  graded("face", "LOW"))
    ids = await enqueue_album(storage, bot, (31, 32, 33), "album-1")
    worker = make_worker(storage, bot, inference)
    await worker.start()
    try:
        jobs = [await finished(storage, job_id) for job_id in ids]
    finally:
        await worker.stop()
    assert [j.status for j in jobs] == [JobStatus.DONE, JobStatus.DONE, JobStatus.REJECTED]
    assert all(j.answered for j in jobs)
    [(kind, _, answer)] = [s for s in bot.sent if s[0] in ("photo", "text")]
    assert kind == "photo" and answer["photo"][:3] == b"\xff\xd8\xff"  # the album picture
    caption = answer["caption"]
    assert caption.startswith("<b>사진 3장 점검 결과</b>")
    assert "1. 두피: 진행 중" in caption and "2. 두피: 심각" in caption
    assert "3. 다시 찍어 주세요: 사진이 흐려요." in caption and "두피 종합: 심각" in caption
    assert [[b.callback_data for b in row] for row in answer["reply_markup"].inline_keyboard] == [
        ["tips:scalp:HIGH"]]
    assert answer["reply_parameters"].message_id == 31
    results = await storage.list_results(USER)
    assert sorted(r.grade for r in results) == ["HIGH", "MIDDLE"]
    assert {r.annotated_file_id for r in results} == {f"sent-photo-{answer['message_id']}"}
    assert len(inference.calls) == 3


async def test_an_album_is_retried_whole_when_the_service_is_away(storage) -> None:
    down = RetryableInferenceError("unreachable", "connection refused")
    bot = FakeBot()
    inference = ScriptedInference(graded(), down, graded(), graded("scalp", "LOW"))
    ids = await enqueue_album(storage, bot, (41, 42), "album-2")
    worker = make_worker(storage, bot, inference)
    await worker.start()
    try:
        jobs = [await finished(storage, job_id) for job_id in ids]
    finally:
        await worker.stop()
    assert all(j.status == JobStatus.DONE and j.answered for j in jobs)
    answers = [s for s in bot.sent if s[0] == "photo"]
    assert len(answers) == 1 and "사진 2장 점검 결과" in answers[0][2]["caption"]
    assert len(await storage.list_results(USER)) == 2


async def test_an_album_with_no_gradable_photo_is_answered_in_one_text(storage) -> None:
    bot, inference = FakeBot(), ScriptedInference(retake())
    ids = await enqueue_album(storage, bot, (51, 52), "album-3")
    worker = make_worker(storage, bot, inference)
    await worker.start()
    try:
        jobs = [await finished(storage, job_id) for job_id in ids]
    finally:
        await worker.stop()
    assert all(j.status == JobStatus.REJECTED and j.answered for j in jobs)
    [(kind, _, answer)] = [s for s in bot.sent if s[0] in ("photo", "text")]
    assert kind == "text" and answer["text"].startswith("<b>사진 2장 점검 결과</b>")
    assert answer["text"].count("다시 찍어 주세요: 사진이 흐려요.") == 2 and "/help" in answer["text"]
    assert await storage.list_results(USER) == []
