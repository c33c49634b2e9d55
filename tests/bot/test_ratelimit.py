"""bot/ratelimit.py: Telegram's flood limits, kept by two "replicas" together.

The replicas are two :class:`SharedRateLimiter` instances, each with its own connection pool
to one real PostgreSQL database (tests/fakes/postgres.py: skipped without a server, failed under
CI=true). Every request records when it went out; the checks count sends in sliding windows,
with a small tolerance for a busy 2-core machine (lateness only ever spreads sends out).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot import limits
from bot.app import build_application
from bot.ratelimit import (
    CHAT_INTERVAL,
    GROUP_INTERVAL,
    OVERALL_INTERVAL,
    LocalBuckets,
    PostgresBuckets,
    SharedRateLimiter,
    counts_per_chat,
    create_rate_limiter,
)
from bot.settings import Settings
from tests.fakes.postgres import fresh_database, require_postgres

TOKEN = "123456:RATE-limit-test-token"
#: Extra sends allowed in a window (the +1 at a window's edge, event-loop jitter).
TOLERANCE = 2
#: A send may come this much earlier than its slot's spacing (wake-up jitter of the sleeper).
GAP_SLACK_S = 0.05


class Recorder:
    """A stand-in for PTB's request callback: records (time, endpoint, chat_id)."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, Any]] = []
        self.fail_next: dict[Any, float] = {}

    def request(self, endpoint: str, chat_id: Any = None) -> tuple[Any, ...]:
        """The arguments of ``process_request`` for one call."""
        data = {} if chat_id is None else {"chat_id": chat_id}

        async def callback() -> dict[str, Any]:
            if chat_id in self.fail_next:
                raise RetryAfter(self.fail_next.pop(chat_id))
            self.sent.append((time.monotonic(), endpoint, chat_id))
            return {"ok": True}

        return callback, (), {}, endpoint, data, None

    def times(self, chat_id: Any = ...) -> list[float]:
        return sorted(t for t, _, c in self.sent if chat_id is ... or c == chat_id)


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most sends within any half-open window ``[t, t + window)``."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def min_gap(times: Sequence[float]) -> float:
    times = sorted(times)
    return min(b - a for a, b in zip(times, times[1:], strict=False))


def pacing_violations(times: Sequence[float], interval: float, burst: int) -> list[str]:
    """Pairs of sends closer than GCRA allows: the j-th after the i-th needs
    ``(j - i - (burst - 1)) * interval`` seconds (less the slack)."""
    times = sorted(times)
    return [f"send {j} only {times[j] - times[i]:.3f} s after send {i}"
            for i in range(len(times)) for j in range(i + 1, len(times))
            if times[j] - times[i] < (j - i - (burst - 1)) * interval - GAP_SLACK_S]


async def send_all(limiters: Sequence[SharedRateLimiter], rec: Recorder,
                   calls: Sequence[tuple[str, Any]]) -> None:
    """Every call at once, dealt round-robin to the limiters."""
    await asyncio.gather(*(
        limiters[i % len(limiters)].process_request(*rec.request(endpoint, chat))
        for i, (endpoint, chat) in enumerate(calls)
    ))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter without PTB's deprecation warning


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return require_postgres()


@pytest.fixture
async def database(postgres_server: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_server) as dsn:
        yield dsn


@pytest.fixture
async def replicas(database: str) -> AsyncIterator[list[SharedRateLimiter]]:
    """Two limiters on one PostgreSQL database, as two bot replicas would have them."""
    pair = [create_rate_limiter(database) for _ in range(2)]
    for limiter in pair:
        await limiter.initialize()
    yield pair
    for limiter in pair:
        await limiter.shutdown()


@contextlib.asynccontextmanager
async def started(limiters: Sequence[SharedRateLimiter]) -> AsyncIterator[None]:
    for limiter in limiters:
        await limiter.initialize()
    try:
        yield
    finally:
        for limiter in limiters:
            await limiter.shutdown()


def pg_pair(database: str, **intervals: float) -> list[SharedRateLimiter]:
    """Two replicas' limiters on one database, with chosen intervals (fast tests)."""
    return [SharedRateLimiter(PostgresBuckets(database), **intervals) for _ in range(2)]


# --------------------------------------------------------------------------- the limits


def test_intervals_come_from_the_named_limits() -> None:
    assert OVERALL_INTERVAL == pytest.approx(1 / 30) == pytest.approx(
        limits.OVERALL_TIME_PERIOD_SECONDS / limits.OVERALL_MAX_RATE)
    assert CHAT_INTERVAL == pytest.approx(1.0) == pytest.approx(
        limits.CHAT_TIME_PERIOD_SECONDS / limits.CHAT_MAX_RATE)
    assert GROUP_INTERVAL == pytest.approx(3.0) == pytest.approx(
        limits.GROUP_TIME_PERIOD_SECONDS / limits.GROUP_MAX_RATE)


def test_which_requests_take_which_buckets() -> None:
    limiter = SharedRateLimiter(LocalBuckets())
    assert [b for b, *_ in limiter.buckets_for("sendMessage", {"chat_id": 5})] == [
        "chat:5", "overall"]
    assert [b for b, *_ in limiter.buckets_for("sendPhoto", {"chat_id": "-100123"})] == [
        "group:-100123", "overall"]
    assert [b for b, *_ in limiter.buckets_for("copyMessage", {"chat_id": "@news"})] == [
        "group:@news", "overall"]
    for endpoint in ("editMessageText", "deleteMessage", "sendChatAction"):
        assert [b for b, *_ in limiter.buckets_for(endpoint, {"chat_id": 5})] == ["overall"]
    assert limiter.buckets_for("answerCallbackQuery", {"callback_query_id": "x"}) == []
    assert counts_per_chat("sendDocument") and counts_per_chat("forwardMessages")
    assert not counts_per_chat("sendChatAction") and not counts_per_chat("getFile")


async def test_gcra_with_a_burst_on_a_fake_clock() -> None:
    now = [100.0]
    buckets = LocalBuckets(clock=lambda: now[0])
    chat = [("chat:1", 1.0, 2.0), ("overall", 0.1, 0.0)]  # burst 3, then 1/s
    taken = [await buckets.take(chat) for _ in range(3)]
    assert taken == [(True, 0.0), (True, pytest.approx(0.1)), (True, pytest.approx(0.2))]
    assert await buckets.take(chat) == (False, pytest.approx(1.0))  # the gate: nothing taken
    assert await buckets.take([("overall", 0.1, 0.0)]) == (True, pytest.approx(0.3))
    now[0] = 101.0
    assert await buckets.take(chat) == (True, 0.0)
    assert await buckets.take(chat) == (False, pytest.approx(1.0))
    await buckets.penalize("chat:2", 5.0 + 2.0)  # a 429 of 5 s on a chat with a burst of 3
    assert await buckets.take([("chat:2", 1.0, 2.0), ("overall", 0.1, 0.0)]) == (
        False, pytest.approx(5.0))


def test_the_bot_uses_the_shared_limiter(tmp_path: Path) -> None:
    sqlite = Settings(telegram_token=TOKEN, db_path=tmp_path / "bot.sqlite3")
    limiter = build_application(sqlite).bot.rate_limiter
    assert isinstance(limiter, SharedRateLimiter) and isinstance(limiter, BaseRateLimiter)
    assert isinstance(limiter.buckets, LocalBuckets)
    pg = Settings(telegram_token=TOKEN, database_url="postgresql://bot:pw-123456@db/bot")
    assert isinstance(build_application(pg).bot.rate_limiter.buckets, PostgresBuckets)


# --------------------------------------------------------------------------- one replica


async def test_local_overall_limit_and_unlimited_requests() -> None:
    rec = Recorder()
    limiter = SharedRateLimiter(LocalBuckets())
    async with started([limiter]):
        # 45 chats at once: 30/s means about 1.5 s, never more than 30 in a second.
        await send_all([limiter], rec, [("sendMessage", 1000 + i) for i in range(45)])
        assert max_in_window(rec.times(), 1.0) <= 30 + TOLERANCE
        assert rec.times()[-1] - rec.times()[0] >= 44 * OVERALL_INTERVAL - GAP_SLACK_S
        # requests without a chat are never held
        started_at = time.monotonic()
        await send_all([limiter], rec, [("answerCallbackQuery", None)] * 50)
        assert time.monotonic() - started_at < 0.5


async def test_local_retry_after_pauses_the_chat_then_retries() -> None:
    rec = Recorder()
    limiter = SharedRateLimiter(LocalBuckets(), chat_interval=0.05)
    async with started([limiter]):
        rec.fail_next[42] = 1
        began = time.monotonic()
        await limiter.process_request(*rec.request("sendPhoto", 42))
        assert rec.times(42)[0] - began >= 1.0  # retry_after 1 s (+0.1 s)
        one_retry = SharedRateLimiter(LocalBuckets(), max_retries=0)
        rec.fail_next[43] = 1
        with pytest.raises(RetryAfter):
            await one_retry.process_request(*rec.request("sendPhoto", 43))


# --------------------------------------------------------------------------- two replicas


async def test_two_replicas_together_stay_under_30_per_second(
    replicas: list[SharedRateLimiter],
) -> None:
    rec = Recorder()
    calls = [("sendMessage", 2000 + i) for i in range(90)]  # 90 chats: about 3 s at 30/s
    began = time.monotonic()
    await send_all(replicas, rec, calls)
    elapsed = time.monotonic() - began
    times = rec.times()
    assert len(times) == 90
    assert max_in_window(times, 1.0) <= 30 + TOLERANCE, max_in_window(times, 1.0)
    assert elapsed >= 89 * OVERALL_INTERVAL - GAP_SLACK_S
    both = {id(r) for r in replicas}
    assert len(both) == 2


async def test_without_sharing_two_replicas_would_exceed_it() -> None:
    """The same check catches two replicas that each keep their own buckets."""
    rec = Recorder()
    apart = [SharedRateLimiter(LocalBuckets()) for _ in range(2)]
    async with started(apart):
        await send_all(apart, rec, [("sendMessage", 3000 + i) for i in range(90)])
    assert max_in_window(rec.times(), 1.0) > 30 + TOLERANCE


async def test_two_replicas_keep_one_message_per_second_per_chat(
    replicas: list[SharedRateLimiter],
) -> None:
    rec = Recorder()
    # five messages from both replicas into one private chat, and one into another chat
    await send_all(replicas, rec, [("sendMessage", 77), ("sendPhoto", 77)] * 2
                   + [("sendMessage", 77), ("sendMessage", 78)])
    times = rec.times(77)
    assert len(times) == 5
    assert pacing_violations(times, CHAT_INTERVAL, limits.CHAT_BURST) == []
    assert times[-1] - times[0] >= (5 - limits.CHAT_BURST) * CHAT_INTERVAL - GAP_SLACK_S
    assert max_in_window(times, 1.0) <= limits.CHAT_BURST + 1  # a burst, then 1 per second
    assert rec.times(78)[0] - times[0] < CHAT_INTERVAL  # other chats do not wait


async def test_per_chat_and_group_spacing_over_many_sends(database: str) -> None:
    pair = pg_pair(database, chat_interval=0.2, group_interval=0.3)
    strict = pg_pair(database, chat_interval=0.2, chat_burst=1)
    rec = Recorder()
    async with started(pair + strict):
        await send_all(pair, rec, [("sendMessage", 501)] * 8 + [("sendMessage", -100501)] * 4
                       + [("editMessageText", 501)] * 6)
        await send_all(strict, rec, [("sendMessage", 502)] * 5)
    chat_sends = [t for t, e, c in rec.sent if c == 501 and e == "sendMessage"]
    assert pacing_violations(chat_sends, 0.2, limits.CHAT_BURST) == []
    assert chat_sends[-1] - chat_sends[0] >= (8 - limits.CHAT_BURST) * 0.2 - GAP_SLACK_S
    assert min_gap(rec.times(502)) >= 0.2 - GAP_SLACK_S
    assert min_gap(rec.times(-100501)) >= 0.3 - GAP_SLACK_S
    edits = [t for t, e, _ in rec.sent if e == "editMessageText"]
    assert max(edits) - min(edits) < 1.0  # edits only take overall slots


async def test_retry_after_pauses_the_chat_in_every_replica(
    replicas: list[SharedRateLimiter],
) -> None:
    rec = Recorder()
    first, second = replicas
    rec.fail_next[90] = 1  # Telegram answers 429 retry_after=1 to the first send
    began = time.monotonic()
    retried = asyncio.create_task(first.process_request(*rec.request("sendMessage", 90)))
    await asyncio.sleep(0.3)  # the 429 has been seen and the chat paused
    await second.process_request(*rec.request("sendMessage", 90))  # the other replica waits
    await retried
    times = rec.times(90)
    assert len(times) == 2
    assert times[0] - began >= 1.0  # the retry, after retry_after
    assert times[1] - began >= 1.0  # the other replica's message waited for it too


async def test_one_chats_429_does_not_hold_up_another_chat(
    replicas: list[SharedRateLimiter],
) -> None:
    """The issue's case: chat 92's 429 (here retry_after=2) pauses chat 92 only; chat 93's
    messages, sent meanwhile from both replicas, go at their own pace."""
    rec = Recorder()
    first, second = replicas
    rec.fail_next[92] = 2
    began = time.monotonic()
    retried = asyncio.create_task(first.process_request(*rec.request("sendMessage", 92)))
    await asyncio.sleep(0.3)  # the 429 has been seen and chat 92 paused
    for limiter in (first, second, first):
        await limiter.process_request(*rec.request("sendMessage", 93))
    others_done = time.monotonic() - began
    await retried
    assert rec.times(92)[-1] - began >= 2.0  # the flooded chat waited its retry_after
    assert len(rec.times(93)) == 3 and others_done < 2.0  # the other chat did not


async def test_idle_bucket_rows_are_cleaned_up(database: str) -> None:
    buckets = PostgresBuckets(database)
    limiter = SharedRateLimiter(buckets, chat_interval=0.05, overall_interval=0.01)
    rec = Recorder()
    async with started([limiter]):
        await send_all([limiter], rec, [("sendMessage", 600 + i) for i in range(5)])
        await asyncio.sleep(0.1)
        assert await buckets.cleanup() == 6  # five chats and the overall bucket, all idle
        assert await buckets.cleanup() == 0
