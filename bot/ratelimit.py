"""Telegram's flood limits, kept by every replica together: :class:`SharedRateLimiter`.

A ``telegram.ext.BaseRateLimiter`` (set in ``build_application``) that spaces out
the bot's requests:

* overall: at most ``OVERALL_MAX_RATE`` (30) requests per second into chats,
  over all chats and all replicas (every request with a ``chat_id``, as PTB's
  ``AIORateLimiter`` counts them);
* per chat: at most ``CHAT_MAX_RATE`` (1) new message per second into one private
  chat after a burst of ``CHAT_BURST`` (3), and ``GROUP_MAX_RATE`` (20) per minute
  into one group or channel
  (``send*`` except ``sendChatAction``, ``copyMessage(s)``, ``forwardMessage(s)``;
  edits, deletions and chat actions count only towards the overall limit);
* requests without a chat (getMe, getFile, answerCallbackQuery, ...) are never held.

A 429 (``RetryAfter``) pauses that request's chat for ``retry_after`` (+0.1 s) in every
replica, and the request is retried up to ``FLOOD_MAX_RETRIES`` times; other chats keep
their pace (PTB's ``AIORateLimiter`` pauses every chat of its process instead).

The algorithm is GCRA (a leaky bucket as a "theoretical arrival time", TAT, per
bucket, which lets a request through from TAT - tolerance on, tolerance =
(burst - 1) * interval). A request's buckets are taken together, atomically: the
*overall* bucket is a queue without bursts (the slot is its TAT, or now), the
chat's bucket is a gate. If the gate opens after that slot, nothing is taken and
the request waits for the gate and asks again; otherwise every bucket's TAT
becomes max(TAT, slot) + interval and the request waits for its slot. So a slot
is the real send time in every bucket it counts in (no bucket is charged a time
the request did not send at, and the overall queue has no holes), and in any
window of ``P`` seconds a bucket lets through at most ``burst + P / interval``
requests (overall: 30 in any second, +1 at the window's edge). The buckets live

* in this process (:class:`LocalBuckets`) with SQLite, i.e. one replica;
* in PostgreSQL (:class:`PostgresBuckets`) when the bot's database is PostgreSQL:
  one row per bucket in an ``UNLOGGED`` table and one PL/pgSQL function,
  ``bot_rate_take``, that locks a request's rows (in key order, so replicas never
  deadlock) and takes them in one statement, on the database's clock, so replicas
  on different machines share the limit without trusting their own clocks. Rows
  of idle buckets are deleted within a minute (a per-chat row holds the chat id).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, Protocol

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from .limits import (
    CHAT_BURST,
    CHAT_MAX_RATE,
    CHAT_TIME_PERIOD_SECONDS,
    FLOOD_MAX_RETRIES,
    GROUP_MAX_RATE,
    GROUP_TIME_PERIOD_SECONDS,
    OVERALL_MAX_RATE,
    OVERALL_TIME_PERIOD_SECONDS,
)

__all__ = [
    "LocalBuckets",
    "PostgresBuckets",
    "RateBuckets",
    "SharedRateLimiter",
    "counts_per_chat",
    "create_rate_limiter",
]

log = logging.getLogger(__name__)

OVERALL_INTERVAL = OVERALL_TIME_PERIOD_SECONDS / OVERALL_MAX_RATE
CHAT_INTERVAL = CHAT_TIME_PERIOD_SECONDS / CHAT_MAX_RATE
GROUP_INTERVAL = GROUP_TIME_PERIOD_SECONDS / GROUP_MAX_RATE
CHAT_TOLERANCE = (CHAT_BURST - 1) * CHAT_INTERVAL
#: Added to a 429's retry_after before the retry (as PTB's AIORateLimiter does).
RETRY_AFTER_MARGIN_SECONDS = 0.1
OVERALL_BUCKET = "overall"
#: Methods that put a new message into a chat (besides ``send*``).
_MESSAGE_METHODS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})
#: Idle bucket rows / entries are dropped this often (an idle bucket equals a missing one).
CLEANUP_INTERVAL_SECONDS = 60.0
LOCAL_BUCKETS_SWEEP_SIZE = 4096
#: Connections per replica for the PostgreSQL buckets.
PG_POOL_MAX_SIZE = 4

RequestCallback = Callable[..., Coroutine[Any, Any, Any]]


def counts_per_chat(endpoint: str) -> bool:
    """True for the Bot API methods that put a new message into a chat."""
    return (endpoint.startswith("send") and endpoint != "sendChatAction") or (
        endpoint in _MESSAGE_METHODS
    )


#: (bucket, interval, tolerance) of one request: gates first, the queue (overall) last.
Buckets = Sequence[tuple[str, float, float]]


class RateBuckets(Protocol):
    """Where the buckets' times live. ``take`` and ``penalize`` must be atomic."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def take(self, buckets: Buckets) -> tuple[bool, float]:
        """Take a slot in all ``buckets`` at once: ``(True, seconds until the slot)``, or
        ``(False, seconds until a gate opens)`` when a gate opens after the queue's slot
        (nothing was taken; ask again then)."""

    async def penalize(self, bucket: str, seconds: float) -> None:
        """Move the bucket's TAT to at least ``seconds`` from now."""


def _take(tats: Sequence[float], buckets: Buckets, now: float) -> tuple[float, float | None]:
    """The queue's slot and the latest gate opening after it (None: all gates open by then)."""
    opens = [tat - tolerance for tat, (_, _, tolerance) in zip(tats, buckets, strict=True)]
    slot = max(now, opens[-1])
    gate = max((t for t in opens[:-1] if t > slot), default=None)
    return slot, gate


class LocalBuckets:
    """The buckets in this process (a single replica)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        self._tat.clear()

    async def take(self, buckets: Buckets) -> tuple[bool, float]:
        now = self._clock()
        tats = [self._tat.get(bucket, 0.0) for bucket, _, _ in buckets]
        slot, gate = _take(tats, buckets, now)
        if gate is not None:
            return False, gate - now
        for tat, (bucket, interval, _) in zip(tats, buckets, strict=True):
            self._tat[bucket] = max(tat, slot) + interval
        if len(self._tat) > LOCAL_BUCKETS_SWEEP_SIZE:
            self._tat = {k: t for k, t in self._tat.items() if t > now}
        return True, slot - now

    async def penalize(self, bucket: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._tat[bucket] = max(self._tat.get(bucket, until), until)


_NOW_S = "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)"


class PostgresBuckets:
    """The buckets as rows of one PostgreSQL table, shared by every replica on the database."""

    TABLE = "bot_rate_limits"
    CREATE = (
        f"CREATE UNLOGGED TABLE IF NOT EXISTS {TABLE} ("
        " bucket TEXT PRIMARY KEY, tat DOUBLE PRECISION NOT NULL)"
    )
    # Times are seconds (epoch) on the database's clock. The same rule as _take().
    CREATE_TAKE = f"""
        CREATE OR REPLACE FUNCTION bot_rate_take(
            buckets TEXT[], intervals DOUBLE PRECISION[], tolerances DOUBLE PRECISION[],
            OUT taken BOOLEAN, OUT wait DOUBLE PRECISION)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            n INTEGER := array_length(buckets, 1);
            tats DOUBLE PRECISION[];
            now_s DOUBLE PRECISION;
            slot DOUBLE PRECISION;
            gate DOUBLE PRECISION;
        BEGIN
            INSERT INTO {TABLE} (bucket, tat)
                SELECT b, 0 FROM unnest(buckets) AS b ORDER BY b
                ON CONFLICT (bucket) DO NOTHING;
            -- one lock order for every replica: no deadlocks
            PERFORM 1 FROM {TABLE} WHERE bucket = ANY(buckets) ORDER BY bucket FOR UPDATE;
            SELECT array_agg(r.tat ORDER BY u.i) INTO tats
                FROM unnest(buckets) WITH ORDINALITY AS u(b, i)
                JOIN {TABLE} r ON r.bucket = u.b;
            now_s := {_NOW_S};
            slot := GREATEST(now_s, tats[n] - tolerances[n]);
            FOR i IN 1 .. n - 1 LOOP
                IF tats[i] - tolerances[i] > slot THEN
                    gate := GREATEST(gate, tats[i] - tolerances[i]);
                END IF;
            END LOOP;
            IF gate IS NOT NULL THEN
                taken := FALSE;
                wait := gate - now_s;
                RETURN;
            END IF;
            UPDATE {TABLE} r SET tat = GREATEST(r.tat, slot) + u.iv
                FROM unnest(buckets, intervals) AS u(b, iv) WHERE r.bucket = u.b;
            taken := TRUE;
            wait := slot - now_s;
        END
        $fn$
    """
    TAKE = ("SELECT taken, wait FROM bot_rate_take("
            "$1::TEXT[], $2::DOUBLE PRECISION[], $3::DOUBLE PRECISION[])")
    PENALIZE = f"""
        INSERT INTO {TABLE} AS b (bucket, tat) VALUES ($1, {_NOW_S} + $2)
        ON CONFLICT (bucket) DO UPDATE SET tat = GREATEST(b.tat, excluded.tat)
    """
    CLEANUP = f"DELETE FROM {TABLE} WHERE tat < {_NOW_S}"

    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: Any = None
        self._cleaner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import asyncpg

        from .storage.postgres import ADVISORY_NAMESPACE, APPLICATION_NAME, connect_with_retry

        settings = {
            "application_name": f"{APPLICATION_NAME}-ratelimit",
            # A bucket time lost in a server crash only means a few fast sends: no fsync wait.
            "synchronous_commit": "off",
        }
        self._pool = await connect_with_retry(
            lambda: asyncpg.create_pool(self._url, min_size=1, max_size=PG_POOL_MAX_SIZE,
                                        server_settings=settings),
            self._url,
        )
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # Replicas starting together must not race on CREATE TABLE.
                await conn.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_NAMESPACE}, 1)")
                await conn.execute(self.CREATE)
                await conn.execute(self.CREATE_TAKE)
        except BaseException:
            await self._pool.close()
            self._pool = None
            raise
        self._cleaner = asyncio.create_task(self._clean_periodically(), name="rate-bucket-cleanup")

    async def close(self) -> None:
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner
            self._cleaner = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def take(self, buckets: Buckets) -> tuple[bool, float]:
        if self._pool is None:
            raise RuntimeError("PostgresBuckets.start() was not called")
        row = await self._pool.fetchrow(
            self.TAKE, [b for b, _, _ in buckets], [float(i) for _, i, _ in buckets],
            [float(t) for _, _, t in buckets],
        )
        return row["taken"], max(0.0, row["wait"])

    async def penalize(self, bucket: str, seconds: float) -> None:
        if self._pool is None:
            raise RuntimeError("PostgresBuckets.start() was not called")
        await self._pool.execute(self.PENALIZE, bucket, float(seconds))

    async def cleanup(self) -> int:
        """Delete the rows of idle buckets (their time has passed); how many went."""
        status = await self._pool.execute(self.CLEANUP)
        return int(status.rsplit(" ", 1)[-1])

    async def _clean_periodically(self) -> None:
        while True:
            await asyncio.sleep(CLEANUP_INTERVAL_SECONDS)
            try:
                await self.cleanup()
            except Exception as exc:  # a database hiccup: try again next time
                log.warning("rate-limit bucket cleanup failed: %s", exc)


def _retry_seconds(exc: RetryAfter) -> float:
    # PTB 22 keeps a timedelta; the public attribute is an int or a timedelta (PTB_TIMEDELTA).
    value = getattr(exc, "_retry_after", None)
    if not isinstance(value, timedelta):
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SharedRateLimiter(BaseRateLimiter[int]):
    """Spaces out the bot's requests by the flood limits, over buckets that replicas may share.

    ``rate_limit_args`` (an ``int``), as with PTB's ``AIORateLimiter``, overrides
    the number of retries after a 429 for one call.
    """

    def __init__(
        self,
        buckets: RateBuckets,
        *,
        overall_interval: float = OVERALL_INTERVAL,
        chat_interval: float = CHAT_INTERVAL,
        chat_burst: int = CHAT_BURST,
        group_interval: float = GROUP_INTERVAL,
        max_retries: int = FLOOD_MAX_RETRIES,
    ) -> None:
        self.buckets = buckets
        self._overall_interval = overall_interval
        self._chat_interval = chat_interval
        self._chat_tolerance = (max(chat_burst, 1) - 1) * chat_interval
        self._group_interval = group_interval
        self._max_retries = max_retries

    async def initialize(self) -> None:
        await self.buckets.start()

    async def shutdown(self) -> None:
        await self.buckets.close()

    async def _wait_for_slot(self, buckets: Buckets) -> None:
        while True:
            taken, wait = await self.buckets.take(buckets)
            if wait > 0:
                await asyncio.sleep(wait)
            if taken:
                return

    def buckets_for(self, endpoint: str, data: dict[str, Any]) -> list[tuple[str, float, float]]:
        """The (bucket, interval, tolerance) a request takes a slot in: the chat's gate, then
        the overall queue (none without a chat)."""
        gate = self.chat_gate(data)
        if gate is None:
            return []
        return [gate, (OVERALL_BUCKET, self._overall_interval, 0.0)] if counts_per_chat(endpoint) \
            else [(OVERALL_BUCKET, self._overall_interval, 0.0)]

    def chat_gate(self, data: dict[str, Any]) -> tuple[str, float, float] | None:
        """The (bucket, interval, tolerance) of the request's chat; None without a chat."""
        chat_id = data.get("chat_id")
        if chat_id is None:
            return None
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)
        if isinstance(chat_id, str) or chat_id < 0:  # @channel / group / supergroup
            return (f"group:{chat_id}", self._group_interval, 0.0)
        return (f"chat:{chat_id}", self._chat_interval, self._chat_tolerance)

    async def process_request(
        self,
        callback: RequestCallback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        max_retries = self._max_retries if rate_limit_args is None else rate_limit_args
        buckets = self.buckets_for(endpoint, data)
        for attempt in range(max_retries + 1):
            if buckets:
                await self._wait_for_slot(buckets)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= max_retries:
                    log.error("flood limit hit on %s after %d retries", endpoint, max_retries)
                    raise
                pause = _retry_seconds(exc) + RETRY_AFTER_MARGIN_SECONDS
                log.info("flood limit hit on %s; retrying in %.1f s", endpoint, pause)
                # Only that chat waits, in every replica, bursts too: a 429 answers one
                # chat's flood, and the other chats keep their pace (the overall queue is not
                # paused; it still holds 30/s). PTB's AIORateLimiter halts the whole process.
                gate = self.chat_gate(data)
                if gate is not None:
                    bucket, _, tolerance = gate
                    await self.buckets.penalize(bucket, pause + tolerance)
                if gate is None or gate not in buckets:  # this request does not wait at the gate
                    await asyncio.sleep(pause)
        raise AssertionError("unreachable")


def create_rate_limiter(database: str | os.PathLike[str]) -> SharedRateLimiter:
    """The bot's limiter: shared through PostgreSQL when ``database`` is a PostgreSQL URL,
    else kept in this process (SQLite means one replica)."""
    from .storage import is_postgres_url

    if is_postgres_url(database):
        return SharedRateLimiter(PostgresBuckets(str(database).strip()))
    return SharedRateLimiter(LocalBuckets())
