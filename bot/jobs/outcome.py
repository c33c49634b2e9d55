"""What one try of a photo job comes to, as a value: what to send and what to record.

:mod:`bot.jobs.photo` returns one of these; :class:`bot.jobs.apply.OutcomeApplier`
makes it happen (sends, then records answered / finished / rescheduled). A send
that fails while an outcome is applied ends in another outcome (a
:class:`Reply` without text for a chat that is gone, a :class:`Retry` for a
network error), which is applied in turn.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.error import RetryAfter

from ..inference_client import AnalysisResult
from ..storage import Job, JobStatus

__all__ = ["AlbumAnswer", "Answer", "Outcome", "Reply", "Retry", "flood_retry"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A graded photo: store the result, send the annotated photo with its caption (one message)."""

    analysis: AnalysisResult
    #: The analysis's domain, grade and confidence, known to be present (it is graded).
    domain: str
    grade: str
    confidence: float
    caption: str
    markup: InlineKeyboardMarkup | None


@dataclass(frozen=True, slots=True)
class Reply:
    """Finish the job as ``status`` after a text reply (none when ``template`` is None).

    Refusals (not an image, too big, a domain the service cannot do), retake
    advice, failures the user is told about, and silent ends (the user blocked the bot).
    """

    status: JobStatus
    #: A template of ``messages/`` and its variables.
    template: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    markup: InlineKeyboardMarkup | None = None
    #: Stored as the job's ``last_error``.
    error: str | None = None
    #: The analysis behind retake advice: once sent, it counts as an answered photo.
    analysis: AnalysisResult | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """The try failed for a reason that may pass: try again later, or give up when spent."""

    error: str
    #: The wait the other side asked for, in seconds.
    retry_after: float | None = None
    #: Fewer tries than the policy's (an unexpected error is not fixed by waiting).
    max_attempts: int | None = None


@dataclass(frozen=True, slots=True)
class AlbumAnswer:
    """An album (a media group): one picture and one caption for all its photos.

    ``members`` are the album's jobs (the first is the one that was claimed) with each
    photo's own outcome, an :class:`Answer` (stored as a result) or a :class:`Reply`
    (retake advice, a refusal: nothing stored).
    """

    members: tuple[tuple[Job, Answer | Reply], ...]
    picture: bytes | None
    caption: str
    markup: InlineKeyboardMarkup | None


#: One try's result.
Outcome = Answer | Reply | Retry | AlbumAnswer


def flood_retry(exc: RetryAfter) -> Retry:
    """Telegram's flood control refused a request: retry no sooner than it asks."""
    # PTB 22 keeps the wait as a timedelta in _retry_after; its public retry_after is an int
    # or a timedelta depending on a deprecation setting, and warns when read as an int.
    value = getattr(exc, "_retry_after", None)
    seconds = value.total_seconds() if isinstance(value, timedelta) else None
    return Retry(f"telegram flood: {exc}", seconds)
