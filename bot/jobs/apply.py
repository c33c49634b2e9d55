"""The one place where a photo job's outcome takes effect: replies sent, the job row updated.

:meth:`OutcomeApplier.apply` carries out an :data:`~bot.jobs.outcome.Outcome`:

* :class:`~bot.jobs.outcome.Answer`: store the result, send the annotated
  photo with its caption, record it as answered; finish as done.
* :class:`~bot.jobs.outcome.Reply`: send the text (unless /delete erased the
  job meanwhile), record it as answered; finish with the reply's status.
* :class:`~bot.jobs.outcome.AlbumAnswer`: store each graded photo's result, send the one
  picture and caption, record every photo of the album answered at once; finish each.
* :class:`~bot.jobs.outcome.Retry`: put the job back with backoff, telling the
  user once that the answer is delayed; once the attempts are spent, tell the
  user it failed (unless a reply was already recorded) and finish as failed.

Exactly once: every reply is recorded (``mark_answered``) right after it is
sent, and a reply that fails to send turns into the outcome that follows from
it (a :class:`Reply` without text when the chat is gone, a :class:`Retry`
after a network error), applied in turn.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from .. import texts
from ..inference_client import AnalysisResult
from ..storage import Job, JobStatus, Storage, utcnow
from .outcome import AlbumAnswer, Answer, Outcome, Reply, Retry, flood_retry
from .retry import RetryPolicy

__all__ = ["OutcomeApplier"]

log = logging.getLogger(__name__)

#: Stored error texts are cut to this length.
MAX_ERROR_TEXT = 500

#: Called once per answered job: the job, seconds from acceptance to the reply, service ms.
AnsweredHook = Callable[[Job, float, float | None], None]


class OutcomeApplier:
    """Sends what an outcome says and records it (see the module docstring)."""

    def __init__(self, bot: Bot, storage: Storage, policy: RetryPolicy,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.bot, self.storage, self.policy = bot, storage, policy
        self._now = now
        self.on_answered: AnsweredHook | None = None

    async def apply(self, job: Job, outcome: Outcome, status_id: int | None) -> None:
        """Carry out ``outcome``; ``status_id`` is the "분석 중" message to remove at the end."""
        step: Outcome | None = outcome
        while step is not None:
            match step:
                case Answer():
                    step = await self._answer(job, step, status_id)
                case Reply():
                    step = await self._reply(job, step, status_id)
                case AlbumAnswer():
                    step = await self._album(job, step, status_id)
                case Retry():
                    await self._retry_or_fail(job, step)
                    step = None

    # --- replies ------------------------------------------------------------------------------

    async def _answer(self, job: Job, answer: Answer, status_id: int | None) -> Outcome | None:
        result = answer.analysis
        stored = await self.storage.add_result(
            job_id=job.job_id,
            user_id=job.user_id,
            domain=answer.domain,
            grade=answer.grade,
            confidence=answer.confidence,
            measurements=result.measurements,
            model_version=result.model_version,
        )
        if stored is None:
            log.info("job %d: user data deleted during analysis; dropped", job.job_id)
            await self._delete_status(job, status_id)
            return None
        reply_to = _reply_to(job)
        if result.annotated_jpeg:
            sent = await self._send(job, self.bot.send_photo(
                job.chat_id, result.annotated_jpeg, caption=answer.caption,
                reply_markup=answer.markup, reply_parameters=reply_to))
        else:  # the contract promises an image with every grade; answer anyway
            log.warning("job %d: graded answer without annotated_jpeg", job.job_id)
            sent = await self._send(job, self.bot.send_message(
                job.chat_id, answer.caption, reply_markup=answer.markup,
                reply_parameters=reply_to))
        if isinstance(sent, Reply | Retry):
            return sent
        await self.storage.mark_answered(job.job_id)
        self._report(job, result)
        if sent.photo:
            await self.storage.set_annotated_file_id(job.user_id, stored.result_id,
                                                     sent.photo[-1].file_id)
        await self._delete_status(job, status_id)
        await self.storage.finish_job(job.job_id, JobStatus.DONE)
        return None

    async def _album(self, job: Job, album: AlbumAnswer, status_id: int | None) -> Outcome | None:
        """An album's one answer: each graded photo stored, one picture and caption sent, every
        photo of it recorded as answered at once, then each finished with its own status."""
        stored = []
        for member, outcome in album.members:
            if isinstance(outcome, Answer):
                result = await self.storage.add_result(
                    job_id=member.job_id, user_id=member.user_id, domain=outcome.domain,
                    grade=outcome.grade, confidence=outcome.confidence,
                    measurements=outcome.analysis.measurements,
                    model_version=outcome.analysis.model_version)
                if result is not None:
                    stored.append(result)
        if not await self._still_there(job):
            log.info("job %d: user data deleted during the album's analysis; dropped", job.job_id)
            await self._delete_status(job, status_id)
            return None
        if album.picture is not None:
            sent = await self._send(job, self.bot.send_photo(
                job.chat_id, album.picture, caption=album.caption, reply_markup=album.markup,
                reply_parameters=_reply_to(job)))
        else:  # no photo of the album could be analysed: the caption alone
            sent = await self._send(job, self.bot.send_message(
                job.chat_id, album.caption, reply_markup=album.markup, reply_parameters=_reply_to(job)))
        if isinstance(sent, Reply | Retry):
            return sent
        await self.storage.mark_album_answered([member.job_id for member, _ in album.members])
        for member, outcome in album.members:
            analysis = outcome.analysis
            if analysis is not None:
                self._report(member, analysis)
        if sent.photo:  # /history re-opens a result of the album with the album's picture
            for result in stored:
                await self.storage.set_annotated_file_id(job.user_id, result.result_id,
                                                         sent.photo[-1].file_id)
        await self._delete_status(job, status_id)
        for member, outcome in reversed(album.members):  # the claimed first job last
            status = JobStatus.DONE if isinstance(outcome, Answer) else outcome.status
            await self.storage.finish_job(member.job_id, status,
                                          error=getattr(outcome, "error", None))
        return None

    async def _reply(self, job: Job, reply: Reply, status_id: int | None) -> Outcome | None:
        if reply.template is not None and await self._still_there(job):
            text = texts.render(reply.template, **reply.context)
            sent = await self._send(job, self.bot.send_message(
                job.chat_id, text, reply_markup=reply.markup, reply_parameters=_reply_to(job)))
            if isinstance(sent, Reply | Retry):
                return sent
            await self.storage.mark_answered(job.job_id)
            if reply.analysis is not None:
                self._report(job, reply.analysis)
        await self._delete_status(job, status_id)
        await self.storage.finish_job(job.job_id, reply.status,
                                      error=(reply.error or "")[:MAX_ERROR_TEXT] or None)
        return None

    async def _send(self, job: Job, request: Awaitable[Message]) -> Message | Reply | Retry:
        """Send one reply; a failure becomes the outcome it leads to."""
        try:
            return await request
        except Forbidden as exc:  # the user blocked the bot: nobody to answer
            return Reply(JobStatus.FAILED, error=f"forbidden: {exc}")
        except RetryAfter as exc:  # still flooded after the rate limiter's own retries
            return flood_retry(exc)
        except BadRequest as exc:  # a bug of ours (or a chat that is gone): retrying won't help
            log.error("job %d: Telegram refused the reply: %s", job.job_id, exc)
            return Reply(JobStatus.FAILED, error=f"bad request: {exc}")
        except NetworkError as exc:  # includes TimedOut
            return Retry(f"telegram send: {exc}")

    async def _still_there(self, job: Job) -> bool:
        """False when /delete erased the job meanwhile (then it is dropped quietly)."""
        return await self.storage.get_job(job.job_id) is not None

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

    async def _retry_or_fail(self, job: Job, retry: Retry) -> None:
        failures = job.attempts + 1
        error = retry.error[:MAX_ERROR_TEXT]
        if self.policy.exhausted(failures) or (
                retry.max_attempts is not None and failures >= retry.max_attempts):
            log.warning("job %d: giving up after %d attempts: %s", job.job_id, failures, error)
            current = await self.storage.get_job(job.job_id)
            if current is not None and not current.answered:
                with contextlib.suppress(TelegramError):
                    await self.bot.send_message(job.chat_id, texts.render("failed"),
                                                reply_parameters=_reply_to(job))
                    await self.storage.mark_answered(job.job_id)
            if current is not None:
                await self._delete_status(job, current.status_message_id)
            await self.storage.finish_job(job.job_id, JobStatus.FAILED, error=error)
            return
        delay = self.policy.delay(failures, retry.retry_after)
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


def _reply_to(job: Job) -> ReplyParameters:
    return ReplyParameters(job.message_id, allow_sending_without_reply=True)
