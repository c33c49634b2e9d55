"""The durable photo-job worker.

Every accepted photo is a row in ``jobs`` (``Storage.enqueue_job``) before any
work starts. :class:`JobWorker` claims due jobs (the storage layer hands out
only a user's oldest pending job, and never two of one user at once, so each
user's photos are answered in order while different users run concurrently),
downloads the photo from Telegram, asks the inference service, and answers.

* Retries: a retryable failure (service down, slow, 5xx, 503, 429; Telegram
  network errors) puts the job back with exponential backoff
  (:class:`RetryPolicy`: ``base * 2**(n-1)``, capped, with jitter); the user is
  told once that the answer is delayed; after ``max_attempts`` failures the
  job is finished as failed and the user is told so.
* Crash safety: ``recover_running_jobs`` at start-up puts jobs of a dead
  process back in the queue. With several replicas on one database
  (``Storage.recovery_is_replica_safe``: PostgreSQL, where recovery only takes
  the jobs of replicas that are gone) the dispatcher also calls it every
  :data:`RECOVERY_INTERVAL_SECONDS`, so the jobs of a replica that died are
  taken over by the live ones without waiting for a restart.
* Exactly once: a job whose reply was recorded (``answered``) is never
  answered again; the reply is recorded right after it is sent. A re-delivered
  update maps to the same dedupe key and never becomes a second job.
* /delete during analysis: the job row is gone, ``add_result`` answers None,
  and the job is dropped quietly.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from . import texts, ui
from .inference_client import (
    AnalysisResult,
    FinalInferenceError,
    InferenceClient,
    InferenceError,
    RetryableInferenceError,
)
from .limits import CHAT_ACTION_REFRESH_SECONDS
from .storage import Job, JobStatus, Storage, utcnow

__all__ = ["RECOVERY_INTERVAL_SECONDS", "JobWorker", "RetryPolicy", "sniff_image"]

log = logging.getLogger(__name__)

#: Longest sleep of the dispatcher when nothing is due (a safety net; wake-ups are events).
IDLE_POLL_SECONDS = 30.0
#: With a replica-safe storage (PostgreSQL): how often the dispatcher takes over the running
#: jobs of replicas that are gone (besides the recovery at start-up).
RECOVERY_INTERVAL_SECONDS = 60.0
#: On stop, jobs in flight get this long to finish before they are cancelled.
STOP_GRACE_SECONDS = 5.0
#: 2**62 seconds is far past any cap; larger exponents would only overflow floats.
MAX_BACKOFF_EXPONENT = 62
#: Tries of a job that fails with an unexpected exception (a bug is not fixed by waiting).
INTERNAL_MAX_ATTEMPTS = 3
#: Stored error texts are cut to this length.
MAX_ERROR_TEXT = 500
#: Telegram's description when getFile refuses a file over the download limit.
FILE_TOO_BIG = "file is too big"
#: Service error codes that mean "the file is not a usable image" / "too big".
UNREADABLE_CODES = frozenset({"not_an_image", "unsupported_format", "truncated", "empty"})

#: Magic bytes of the image formats the service takes.
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_RIFF, _WEBP = b"RIFF", b"WEBP"
_WEBP_TAG = slice(8, 12)
#: Bytes looked at to tell the format (the longest signature ends at byte 12).
SNIFF_BYTES = 16


def sniff_image(data: bytes) -> str | None:
    """The MIME type from the file's first bytes (JPEG, PNG, WebP), or None."""
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_RIFF) and data[_WEBP_TAG] == _WEBP:
        return "image/webp"
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap and a bounded number of attempts.

    ``delay(n)`` is the wait after the n-th failure (n >= 1):
    ``min(cap, base * 2**(n-1))``, shortened by up to ``jitter`` (a fraction) so
    that many jobs failing together do not retry in lockstep, and never below a
    ``retry_after`` the service asked for (itself capped).
    """

    max_attempts: int
    base: float
    cap: float
    jitter: float = 0.2

    def delay(self, failures: int, retry_after: float | None = None,
              rng: Callable[[], float] = random.random) -> float:
        if failures < 1:
            raise ValueError("failures counts from 1")
        exponent = min(failures - 1, MAX_BACKOFF_EXPONENT)
        raw = min(self.cap, self.base * 2.0**exponent)
        value = raw * (1.0 - self.jitter * rng())
        if retry_after is not None:
            value = max(value, min(self.cap, retry_after))
        return value

    def exhausted(self, failures: int) -> bool:
        """True when the n-th failure is the last one allowed."""
        return failures >= self.max_attempts


class _Outcome(Exception):
    """Internal: end a job early with a reply (or silently)."""

    def __init__(self, status: JobStatus, template: str | None = None, *,
                 error: str | None = None, markup: InlineKeyboardMarkup | None = None,
                 **ctx: Any) -> None:
        super().__init__(error or template or status.value)
        self.status, self.template, self.ctx, self.error, self.markup = (
            status, template, ctx, error, markup
        )


class _Retry(Exception):
    """Internal: the job failed in a way worth retrying."""

    def __init__(self, error: str, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.retry_after = retry_after


class _Progress:
    """While a job runs: the chat action (refreshed), and "분석 중" after a second.

    The notice is due ``notice_after`` seconds after the photo was *accepted*
    (a photo that waited in the queue gets it at once). On exit the refresh
    loop is cancelled; a notice already being sent is awaited, so it is
    always recorded and can be deleted when the answer goes out.
    """

    def __init__(self, worker: JobWorker, job: Job) -> None:
        self.worker, self.job = worker, job
        self.status_message_id = job.status_message_id
        self._sending_notice = False
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> _Progress:
        self._tasks.append(asyncio.create_task(self._actions()))
        if self.status_message_id is None:
            self._tasks.append(asyncio.create_task(self._notice()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        actions, *notice = self._tasks
        actions.cancel()
        for task in notice:
            if not self._sending_notice:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _actions(self) -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await self.worker.bot.send_chat_action(self.job.chat_id, ChatAction.UPLOAD_PHOTO)
            await asyncio.sleep(CHAT_ACTION_REFRESH_SECONDS)

    async def _notice(self) -> None:
        due = self.job.created_at + timedelta(seconds=self.worker.notice_after)
        await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()))
        self._sending_notice = True
        try:
            message = await self.worker.bot.send_message(
                self.job.chat_id, texts.render("analyzing")
            )
        except TelegramError as exc:
            log.info("job %d: analyzing notice not sent: %s", self.job.job_id, exc)
            return
        self.status_message_id = message.message_id
        await self.worker.storage.set_status_message(self.job.job_id, message.message_id)


class JobWorker:
    """Claims and answers photo jobs (see the module docstring).

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
        self._wake = asyncio.Event()
        self._stopping = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._active: set[asyncio.Task[None]] = set()
        #: Ids of the jobs this worker is running now (never claimed twice by it, see _dispatch).
        self._active_ids: set[int] = set()
        self.recovery_interval = recovery_interval
        #: Event-loop time of the next periodic recovery (replica-safe storage only).
        self._next_recovery = math.inf
        #: (job_id, update-to-reply seconds, service ms) of answered jobs, for metrics and the bench.
        self.on_answered: Callable[[Job, float, float | None], None] | None = None

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
                timeout = 1.0
            with contextlib.suppress(asyncio.TimeoutError):
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
        try:
            if job.answered:  # re-claimed after a crash after the reply went out
                await self.storage.finish_job(job.job_id, JobStatus.DONE)
                return
            await self._run(job)
        except asyncio.CancelledError:
            raise
        except _Retry as exc:
            await self._retry_or_fail(job, str(exc), exc.retry_after)
        except Exception as exc:  # a bug, or the database hiccupped: a few tries only
            log.exception("job %d failed unexpectedly", job.job_id)
            await self._retry_or_fail(job, f"internal: {type(exc).__name__}: {exc}", None,
                                      max_attempts=INTERNAL_MAX_ATTEMPTS)

    async def _run(self, job: Job) -> None:
        progress = _Progress(self, job)
        try:
            async with progress:  # on exit, a notice being sent is awaited and recorded
                data = await self._download(job)
                mime = sniff_image(bytes(data[:SNIFF_BYTES]))
                if mime is None:
                    raise _Outcome(JobStatus.REJECTED, "unsupported", kind="document",
                                   error="not a JPEG, PNG or WebP file")
                result = await self._analyze(job, data, mime)
        except _Outcome as outcome:
            await self._conclude(job, outcome, progress.status_message_id)
            return
        await self._answer(job, result, progress.status_message_id)

    async def _download(self, job: Job) -> bytes:
        try:
            file = await self.bot.get_file(job.file_id)
            return bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            if FILE_TOO_BIG in str(exc).lower():
                raise _Outcome(JobStatus.REJECTED, "too_big", error=str(exc)) from exc
            raise _Outcome(JobStatus.FAILED, "failed", error=f"getFile: {exc}") from exc
        except RetryAfter as exc:
            raise _Retry(f"telegram flood: {exc}", _retry_after_seconds(exc)) from exc
        except NetworkError as exc:  # includes TimedOut
            raise _Retry(f"telegram download: {exc}") from exc

    async def _analyze(self, job: Job, data: bytes, mime: str) -> AnalysisResult:
        try:
            return await self.inference.analyze(
                data, domain=job.domain.value, content_type=mime,
                filename="photo." + mime.rsplit("/", 1)[-1],
            )
        except RetryableInferenceError as exc:
            raise _Retry(f"inference: {exc}", exc.retry_after) from exc
        except FinalInferenceError as exc:
            raise self._refusal(job, exc) from exc

    def _refusal(self, job: Job, exc: InferenceError) -> _Outcome:
        """A 4xx from the service: tell the user why, keep the re-run buttons where useful."""
        if exc.code == "domain_unavailable":
            markup = ui.rerun_keyboard(job.job_id, ui.rerun_domains(job.domain))
            return _Outcome(JobStatus.REJECTED, "not_analysable", code=exc.code,
                            error=str(exc), markup=markup)
        if exc.code in UNREADABLE_CODES or exc.code in {"too_large", "too_many_pixels"}:
            return _Outcome(JobStatus.REJECTED, "not_analysable", code=exc.code, error=str(exc))
        log.error("job %d: the service refused the request: %s", job.job_id, exc)
        return _Outcome(JobStatus.FAILED, "failed", error=str(exc))

    # --- answering ----------------------------------------------------------------------------

    def _reply_to(self, job: Job) -> ReplyParameters:
        return ReplyParameters(job.message_id, allow_sending_without_reply=True)

    async def _send(self, job: Job, coro_factory: Callable[[], Any]) -> Message | None:
        """Send one reply; Telegram failures become a retry, a block ends the job."""
        try:
            return await coro_factory()
        except Forbidden as exc:  # the user blocked the bot: nobody to answer
            raise _Outcome(JobStatus.FAILED, error=f"forbidden: {exc}") from exc
        except RetryAfter as exc:  # still flooded after the rate limiter's own retries
            raise _Retry(f"telegram flood: {exc}", _retry_after_seconds(exc)) from exc
        except BadRequest as exc:  # a bug of ours (or a chat that is gone): retrying won't help
            log.error("job %d: Telegram refused the reply: %s", job.job_id, exc)
            raise _Outcome(JobStatus.FAILED, error=f"bad request: {exc}") from exc
        except NetworkError as exc:  # includes TimedOut
            raise _Retry(f"telegram send: {exc}") from exc

    async def _still_there(self, job: Job) -> bool:
        """False when /delete erased the job meanwhile (then it is dropped quietly)."""
        return await self.storage.get_job(job.job_id) is not None

    async def _conclude(self, job: Job, outcome: _Outcome, status_id: int | None) -> None:
        """Finish a job without a result: an optional text reply, then the status."""
        if outcome.template is not None and await self._still_there(job):
            text = texts.render(outcome.template, **outcome.ctx)
            try:
                await self._send(job, lambda: self.bot.send_message(
                    job.chat_id, text, reply_markup=outcome.markup,
                    reply_parameters=self._reply_to(job)))
            except _Outcome as blocked:
                outcome = blocked
            except _Retry as exc:
                await self._retry_or_fail(job, str(exc), None)
                return
            else:
                await self.storage.mark_answered(job.job_id)
        await self._delete_status(job, status_id)
        await self.storage.finish_job(job.job_id, outcome.status,
                                      error=(outcome.error or "")[:MAX_ERROR_TEXT] or None)

    async def _answer(self, job: Job, result: AnalysisResult, status_id: int | None) -> None:
        try:
            if not result.graded:
                await self._answer_retake(job, result)
            else:
                stored = await self.storage.add_result(
                    job_id=job.job_id,
                    user_id=job.user_id,
                    domain=result.domain,
                    grade=result.grade,
                    confidence=result.confidence or 0.0,
                    measurements=result.measurements,
                    model_version=result.model_version,
                )
                if stored is None:
                    log.info("job %d: user data deleted during analysis; dropped", job.job_id)
                    await self._delete_status(job, status_id)
                    return
                await self._answer_result(job, result, stored.result_id)
        except _Outcome as outcome:  # blocked by the user while answering
            await self._conclude(job, outcome, status_id)
            return
        except _Retry as exc:
            await self._retry_or_fail(job, str(exc), exc.retry_after)
            return
        await self._delete_status(job, status_id)
        await self.storage.finish_job(
            job.job_id, JobStatus.DONE if result.graded else JobStatus.REJECTED
        )

    async def _answer_retake(self, job: Job, result: AnalysisResult) -> None:
        if not await self._still_there(job):
            return
        text = texts.render("quality_retake", reasons=list(result.quality.reasons))
        markup = ui.rerun_keyboard(job.job_id, ui.rerun_domains(result.domain))
        await self._send(job, lambda: self.bot.send_message(
            job.chat_id, text, reply_markup=markup, reply_parameters=self._reply_to(job)))
        await self.storage.mark_answered(job.job_id)
        self._report(job, result)

    async def _answer_result(self, job: Job, result: AnalysisResult, result_id: int) -> None:
        words = ui.result_texts(result.domain, result.grade, result.confidence or 0.0,
                                dict(result.measurements))
        markup = ui.rerun_keyboard(job.job_id, ui.rerun_domains(result.domain))
        if result.annotated_jpeg:
            sent = await self._send(job, lambda: self.bot.send_photo(
                job.chat_id, result.annotated_jpeg, caption=words.caption, reply_markup=markup,
                reply_parameters=self._reply_to(job)))
        else:  # the contract promises an image with every grade; answer anyway
            log.warning("job %d: graded answer without annotated_jpeg", job.job_id)
            sent = await self._send(job, lambda: self.bot.send_message(
                job.chat_id, words.caption, reply_markup=markup,
                reply_parameters=self._reply_to(job)))
        await self.storage.mark_answered(job.job_id)
        self._report(job, result)
        if sent is not None and sent.photo:
            await self.storage.set_annotated_file_id(job.user_id, result_id, sent.photo[-1].file_id)
        if words.follow_up:
            follow_markup = markup if words.follow_up_has_buttons else None
            try:  # the answer is out: a lost follow-up is not worth answering twice
                await self.bot.send_message(job.chat_id, words.follow_up, reply_markup=follow_markup)
            except TelegramError as exc:
                log.warning("job %d: follow-up tips not sent: %s", job.job_id, exc)

    def _report(self, job: Job, result: AnalysisResult) -> None:
        elapsed = (utcnow() - job.created_at).total_seconds()
        log.info("job %d answered: %s %s, %.0f ms after it was accepted (service %s ms)",
                 job.job_id, result.domain, result.grade or "retake", elapsed * 1000,
                 result.service_ms)
        if self.on_answered is not None:
            self.on_answered(job, elapsed, result.service_ms)

    async def _delete_status(self, job: Job, status_id: int | None) -> None:
        if status_id is None:
            return
        with contextlib.suppress(TelegramError):
            await self.bot.delete_message(job.chat_id, status_id)

    # --- retries ------------------------------------------------------------------------------

    async def _retry_or_fail(self, job: Job, error: str, retry_after: float | None,
                             *, max_attempts: int | None = None) -> None:
        failures = job.attempts + 1
        error = error[:MAX_ERROR_TEXT]
        if self.policy.exhausted(failures) or (max_attempts is not None and failures >= max_attempts):
            log.warning("job %d: giving up after %d attempts: %s", job.job_id, failures, error)
            current = await self.storage.get_job(job.job_id)
            if current is not None and not current.answered:
                with contextlib.suppress(TelegramError):
                    await self.bot.send_message(job.chat_id, texts.render("failed"),
                                                reply_parameters=self._reply_to(job))
                    await self.storage.mark_answered(job.job_id)
            if current is not None:
                await self._delete_status(job, current.status_message_id)
            await self.storage.finish_job(job.job_id, JobStatus.FAILED, error=error)
            return
        delay = self.policy.delay(failures, retry_after)
        updated = await self.storage.reschedule_job(
            job.job_id, error, self._now() + timedelta(seconds=delay)
        )
        if updated is None:  # erased by /delete, or already finished
            return
        log.info("job %d: attempt %d failed (%s); retrying in %.1f s",
                 job.job_id, failures, error, delay)
        if job.attempts == 0:
            await self._notify_delayed(updated)

    async def _notify_delayed(self, job: Job) -> None:
        """Once per job: turn the "분석 중" message into "지연" (or send it)."""
        text = texts.render("delayed")
        try:
            if job.status_message_id is not None:
                await self.bot.edit_message_text(text, job.chat_id, job.status_message_id)
                return
            message = await self.bot.send_message(job.chat_id, text)
        except TelegramError as exc:
            log.info("job %d: delay notice not sent: %s", job.job_id, exc)
            return
        await self.storage.set_status_message(job.job_id, message.message_id)


def _retry_after_seconds(exc: RetryAfter) -> float | None:
    """RetryAfter's wait in seconds, without PTB's int/timedelta deprecation dance."""
    value = getattr(exc, "_retry_after", None)
    return value.total_seconds() if isinstance(value, timedelta) else None
