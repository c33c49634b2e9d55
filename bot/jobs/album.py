"""An album (a Telegram media group): each photo analysed, one answer for all of them.

Telegram delivers an album as one message per photo. Each becomes a job as usual (nothing a
user sent is lost); the first waits ``ALBUM_SETTLE_SECONDS`` so the others arrive, then
:meth:`AlbumJob.run` analyses it with the rest of its album and returns one
:class:`~bot.jobs.outcome.AlbumAnswer`: one picture (the annotated photos, numbered) and one
caption (each photo's grade, and one overall grade per check, saying how it was combined).
A caption on the album (on its first photo) chooses the check for every photo in it.
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from .. import texts, ui
from ..collage import album_picture
from ..storage import Domain, Job
from .outcome import AlbumAnswer, Answer, Reply, Retry
from .photo import PhotoJob

__all__ = ["ALBUM_SETTLE_SECONDS", "AlbumJob", "overall_grade"]

#: How long an album's first photo waits for the rest: Telegram sends an album's messages
#: back to back (one getUpdates batch or a few in a row), so a second and a half is ample.
ALBUM_SETTLE_SECONDS = 1.5

#: Worst first: an album's overall grade is the most advanced grade among its graded photos
#: (the Norwood-Hamilton scale grades a head by its most advanced area: the hairline on a
#: front view, the crown on a top-down one).
_GRADE_ORDER = ("HIGH", "MIDDLE", "LOW")


def overall_grade(grades: Sequence[str]) -> str:
    """The album's grade for one check: the most advanced graded one; UNCERTAIN when none
    was graded."""
    for grade in _GRADE_ORDER:
        if grade in grades:
            return grade
    return "UNCERTAIN"


class AlbumJob:
    """Analyses an album's photos one after another, then builds its one answer."""

    def __init__(self, photo: PhotoJob) -> None:
        self._photo = photo

    async def run(self, first: Job, rest: Sequence[Job]) -> AlbumAnswer | Retry:
        members: list[tuple[Job, Answer | Reply]] = []
        for job in (first, *rest):
            if first.domain != Domain.AUTO:  # the album's caption chose the check
                job = dataclasses.replace(job, domain=first.domain)
            outcome = await self._photo.run(job, ask=False)
            if isinstance(outcome, Retry):  # the service is away: the whole album later
                return outcome
            members.append((job, outcome))
        drawn = [o.analysis.annotated_jpeg if isinstance(o, Answer) else None for _, o in members]
        # no photo of the album was graded: the caption alone (grey tiles would say nothing)
        picture = await asyncio.to_thread(album_picture, drawn) if any(drawn) else None
        items = [_item(outcome) for _, outcome in members]
        overall = _overall(items)
        main = overall[0] if overall else None
        caption = texts.render("album_caption", items=items, overall=overall)
        markup = None
        if main is not None and main["grade"] in ui.TIP_GRADES:
            markup = ui.tips_keyboard(main["domain"], main["grade"])
        return AlbumAnswer(tuple(members), picture, caption, markup)


def _item(outcome: Answer | Reply) -> dict[str, Any]:
    """One photo's line of the caption."""
    if isinstance(outcome, Answer):
        return {"domain": outcome.domain, "grade": outcome.grade,
                "measurements": ui.caption_measurements(outcome.domain, dict(outcome.analysis.measurements)),
                "view": outcome.analysis.measurements.get("view")}
    reasons = list(outcome.context.get("reasons", ())) if outcome.template == "quality_retake" else []
    return {"domain": None, "grade": None, "reasons": reasons, "template": outcome.template}


def _overall(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One overall grade per check in the album, the check with more photos first."""
    by_domain: dict[str, list[str]] = {}
    for item in items:
        if item["domain"] is not None:
            by_domain.setdefault(item["domain"], []).append(item["grade"])
    ranked = sorted(by_domain.items(), key=lambda kv: (-len(kv[1]), kv[0] != "scalp"))
    return [{"domain": domain, "grade": overall_grade(grades), "photos": len(grades)}
            for domain, grades in ranked]
