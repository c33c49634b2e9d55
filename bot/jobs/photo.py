"""One photo's job: download it, check its bytes, ask the inference service.

:meth:`PhotoJob.run` sends nothing and records nothing: it returns the
:data:`~bot.jobs.outcome.Outcome` (the answer, retake advice, a refusal, a
retry) for :class:`bot.jobs.apply.OutcomeApplier` to carry out.
"""
from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter

from .. import ui
from ..inference_client import (
    AnalysisResult,
    FinalInferenceError,
    InferenceClient,
    RetryableInferenceError,
)
from ..storage import Domain, Job, JobStatus
from .outcome import Answer, Reply, Retry, flood_retry

__all__ = ["PhotoJob", "sniff_image"]

log = logging.getLogger(__name__)

#: Telegram's description when getFile refuses a file over the download limit.
FILE_TOO_BIG = "file is too big"
#: Service error codes that mean "the file is not a usable image".
UNREADABLE_CODES = frozenset({"not_an_image", "unsupported_format", "truncated", "empty"})
#: Service error codes that mean "the image is too large to analyse".
TOO_LARGE_CODES = frozenset({"too_large", "too_many_pixels"})

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


class PhotoJob:
    """Download -> check -> analyse, for one claimed job at a time."""

    def __init__(self, bot: Bot, inference: InferenceClient) -> None:
        self.bot, self.inference = bot, inference

    async def run(self, job: Job, *, ask: bool = True) -> Answer | Reply | Retry:
        """The photo's outcome; ``ask=False`` (an album's photo): a photo that could be either
        check is graded as the service routed it instead of asking which check was meant."""
        data = await self._download(job)
        if not isinstance(data, bytes):
            return data
        mime = sniff_image(data[:SNIFF_BYTES])
        if mime is None:
            return Reply(JobStatus.REJECTED, "unsupported", {"kind": "document"},
                         error="not a JPEG, PNG or WebP file")
        try:
            result = await self.inference.analyze(
                data, domain=job.domain.value, content_type=mime,
                filename="photo." + mime.rsplit("/", 1)[-1],
            )
        except RetryableInferenceError as exc:
            return Retry(f"inference: {exc}", exc.retry_after)
        except FinalInferenceError as exc:
            return _refusal(job, exc)
        return _answer(job, result, ask)

    async def _download(self, job: Job) -> bytes | Reply | Retry:
        try:
            file = await self.bot.get_file(job.file_id)
            return bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            if FILE_TOO_BIG in str(exc).lower():
                return Reply(JobStatus.REJECTED, "too_big", error=str(exc))
            return Reply(JobStatus.FAILED, "failed", error=f"getFile: {exc}")
        except RetryAfter as exc:
            return flood_retry(exc)
        except NetworkError as exc:  # includes TimedOut
            return Retry(f"telegram download: {exc}")


def _answer(job: Job, result: AnalysisResult, ask: bool = True) -> Answer | Reply:
    """The service's answer: a graded result, or retake advice when the quality gate refused."""
    markup = ui.rerun_keyboard(job.job_id, ui.rerun_domains(result.domain))
    domain, grade = result.domain, result.grade
    # a grade always comes with its domain (AnalysisResult.from_json refuses it otherwise)
    if domain is None or grade is None or not result.graded:
        return Reply(JobStatus.REJECTED, "quality_retake", {"reasons": list(result.quality.reasons)},
                     markup=markup, analysis=result)
    if ask and job.domain == Domain.AUTO and len(result.could_be) > 1:
        # a photo that could be either (a front view shows the hairline and the face): ask, and
        # store nothing until the user chooses; the choice is a job of its own for this photo
        return Reply(JobStatus.DONE, "choose_check", {"domains": list(result.could_be)},
                     markup=ui.choose_keyboard(job.job_id, result.could_be), analysis=result)
    confidence = result.confidence or 0.0
    return Answer(
        analysis=result, domain=domain, grade=grade, confidence=confidence,
        caption=ui.result_caption(domain, grade, confidence, dict(result.measurements)),
        markup=ui.answer_keyboard(job.job_id, domain, grade),
    )


def _refusal(job: Job, exc: FinalInferenceError) -> Reply:
    """A 4xx from the service: tell the user why, keep the re-run buttons where useful."""
    if exc.code == "domain_unavailable":
        markup = ui.rerun_keyboard(job.job_id, ui.rerun_domains(job.domain))
        return Reply(JobStatus.REJECTED, "not_analysable", {"code": exc.code},
                     markup=markup, error=str(exc))
    if exc.code in UNREADABLE_CODES or exc.code in TOO_LARGE_CODES:
        return Reply(JobStatus.REJECTED, "not_analysable", {"code": exc.code}, error=str(exc))
    log.error("job %d: the service refused the request: %s", job.job_id, exc)
    return Reply(JobStatus.FAILED, "failed", error=str(exc))
