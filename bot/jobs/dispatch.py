"""The dispatcher: claims due jobs, runs a bounded number at once, recovers dead workers' jobs."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Callable
from datetime import datetime

from telegram import Bot

from ..inference_client import InferenceClient
from ..storage import Job, JobStatus, Storage, utcnow
from .album import AlbumJob
from .apply import AnsweredHook, OutcomeApplier
from .outcome import Outcome, Reply, Retry
from .photo import PhotoJob
from .progress import Progress
from .retry import RetryPolicy

__all__ = ["IDLE_POLL_SECONDS", "RECOVERY_INTERVAL_SECONDS", "JobWorker"]

log = logging.getLogger(__name__)

#: Longest sleep of the dispatcher when nothing is due (a safety net; wake-ups are events).
IDLE_POLL_SECONDS = 30.0
#: With a replica-safe storage (PostgreSQL): how often the dispatcher takes over the running
#: jobs of replicas that are gone (besides the recovery at start-up).
RECOVERY_INTERVAL_SECONDS = 60.0
#: On stop, jobs in flight get this long to finish before they are cancelled.
STOP_GRACE_SECONDS = 5.0
#: Tries of a job that fails with an unexpected exception (a bug is not fixed by waiting).
INTERNAL_MAX_ATTEMPTS = 3
#: After a database error the dispatcher looks again this soon.
DISPATCH_ERROR_PAUSE_SECONDS = 1.0


class JobWorker:
    """Claims photo jobs and has them answered (see :mod:`bot.jobs`).

    ``start()`` recovers jobs of a dead process and starts the dispatcher
    (which, on a replica-safe storage, recovers again every
    ``recovery_interval`` seconds); ``wake()`` after enqueueing makes it look
    at once; ``stop()`` lets jobs in flight finish (up to a grace period) and
    cancels the rest, which stay ``running`` in the database and are recovered
    at the next start (or, with PostgreSQL, by another replica once this one
    has closed its storage).
    """

    def __init__(
        self,
        storage: Storage,
        inference: InferenceClient,
        bot: Bot,
        *,
        concurrency: int,
        policy: RetryPolicy,
        notice_after: float,
        now: Callable[[], datetime] = utcnow,
        recovery_interval: float = RECOVERY_INTERVAL_SECONDS,
    ) -> None:
        self.storage, self.inference, self.bot = storage, inference, bot
        self.concurrency = concurrency
        self.policy = policy
        self.notice_after = notice_after
        self._now = now
        self._photo = PhotoJob(bot, inference)
        self._album = AlbumJob(self._photo)
        self._outcomes = OutcomeApplier(bot, storage, policy, now)
        self._wake = asyncio.Event()
        self._stopping = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._active: set[asyncio.Task[None]] = set()
        #: Ids of the jobs this worker is running now (never claimed twice by it, see _dispatch).
        self._active_ids: set[int] = set()
        self.recovery_interval = recovery_interval
        #: Event-loop time of the next periodic recovery (replica-safe storage only).
        self._next_recovery = math.inf

    @property
    def on_answered(self) -> AnsweredHook | None:
        """Called with (job, update-to-reply seconds, service ms) per answered job (metrics, bench)."""
        return self._outcomes.on_answered

    @on_answered.setter
    def on_answered(self, hook: AnsweredHook | None) -> None:
        self._outcomes.on_answered = hook

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        recovered = await self.storage.recover_running_jobs()
        if recovered:
            log.info("resuming %d job(s) left running by a previous process: %s",
                     len(recovered), [j.job_id for j in recovered])
        pending = await self.storage.pending_jobs()
        if pending:
            log.info("%d pending job(s) in the queue", len(pending))
        self._stopping = False
        if self.storage.recovery_is_replica_safe:
            self._next_recovery = asyncio.get_running_loop().time() + self.recovery_interval
        self._dispatcher = asyncio.create_task(self._dispatch(), name="job-dispatcher")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        self._stopping = True
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        if self._active:
            _, still = await asyncio.wait(set(self._active), timeout=grace)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    @property
    def busy(self) -> int:
        return len(self._active)

    @property
    def running(self) -> bool:
        """True while the dispatcher is alive (between ``start()`` and ``stop()``)."""
        return self._dispatcher is not None and not self._dispatcher.done()

    # --- dispatching ------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._recover_orphans()
                # One "now" for the claims and the idle time: a job due by then that was not
                # claimed is blocked (its user has a running or an older backing-off job).
                now = self._now()
                while len(self._active) < self.concurrency:
                    job = await self.storage.claim_next_job(now=now)
                    if job is None:
                        break
                    if job.job_id in self._active_ids:
                        # Our own job, put back by a recovery while this process had lost its
                        # owner lock (PostgreSQL); its task is still at it and will finish it.
                        log.warning("job %d: re-claimed while still running here", job.job_id)
                        continue
                    task = asyncio.create_task(self._process(job), name=f"job-{job.job_id}")
                    self._active.add(task)
                    self._active_ids.add(job.job_id)
                    task.add_done_callback(functools.partial(self._finished, job.job_id))
                timeout = min(await self._idle_timeout(now), self._until_recovery())
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccupped: keep the dispatcher alive
                log.exception("job dispatcher error")
                timeout = DISPATCH_ERROR_PAUSE_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _finished(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._active.discard(task)
        self._active_ids.discard(job_id)
        self._wake.set()

    async def _recover_orphans(self) -> None:
        """Every ``recovery_interval``: take over the running jobs of replicas that are gone.

        Only on a storage whose recovery leaves live replicas' jobs alone
        (``recovery_is_replica_safe``); SQLite's would reset this process's own
        running jobs, so there it runs at start-up only.
        """
        if not self.storage.recovery_is_replica_safe:
            return
        loop_time = asyncio.get_running_loop().time()
        if loop_time < self._next_recovery:
            return
        recovered = await self.storage.recover_running_jobs()
        self._next_recovery = loop_time + self.recovery_interval
        if recovered:
            log.warning("took over %d job(s) left running by a replica that is gone: %s",
                        len(recovered), [j.job_id for j in recovered])

    def _until_recovery(self) -> float:
        """Seconds until the next periodic recovery is due (inf when there is none)."""
        return max(0.0, self._next_recovery - asyncio.get_running_loop().time())

    async def _idle_timeout(self, claimed_at: datetime) -> float:
        """Seconds until the next pending job falls due after ``claimed_at`` (capped).

        Jobs due at ``claimed_at`` but not claimed then wait either for their
        user's running job (its end wakes the dispatcher) or for an older job of
        the same user that is backing off (its due time is among the later ones).
        """
        if len(self._active) >= self.concurrency:
            return IDLE_POLL_SECONDS
        later = [j.next_attempt_at for j in await self.storage.pending_jobs()
                 if j.next_attempt_at > claimed_at]
        if not later:
            return IDLE_POLL_SECONDS
        wait = (min(later) - self._now()).total_seconds()
        return min(max(wait, 0.0), IDLE_POLL_SECONDS)

    # --- one job ----------------------------------------------------------------------------

    async def _process(self, job: Job) -> None:
        """One claimed job: the photo's work under the progress display, then its outcome."""
        try:
            if job.answered:  # re-claimed after a crash after the reply went out: only finish it
                await self._outcomes.apply(job, Reply(JobStatus.DONE), status_id=None)
                return
            progress = Progress(self.bot, self.storage, job, self.notice_after)
            async with progress:  # on exit, a notice being sent is awaited and recorded
                rest = await self.storage.album_siblings(job)
                outcome: Outcome = (await self._album.run(job, rest) if rest
                                    else await self._photo.run(job))
            await self._outcomes.apply(job, outcome, progress.status_message_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, or the database hiccupped: a few tries only
            log.exception("job %d failed unexpectedly", job.job_id)
            retry = Retry(f"internal: {type(exc).__name__}: {exc}",
                          max_attempts=INTERNAL_MAX_ATTEMPTS)
            await self._outcomes.apply(job, retry, status_id=None)
