"""What the user sees, assembled from ``bot.texts``: inline keyboards, callback data,
and the texts of a result. No I/O here; handlers and the job worker send it.

Callback data (at most ``MAX_CALLBACK_DATA_BYTES``), one prefix per button kind:

===================  ==============================================
``rerun:<job>:<d>``  analyse the photo of job ``<job>`` as domain ``<d>``
``pick:<job>:<d>``   the same, as the answer to "which check?" (``choose_keyboard``): the
                     question goes once it is answered
``hist:<page>``      show page ``<page>`` of /history
``open:<result>``    re-send result ``<result>`` (its stored file_id)
``del:yes|no``       the /delete confirmation
``remind:<d>|off``   /remind: every ``<d>`` days, or off
``tips:<d>:<grade>`` the long care tips of a domain and grade (관리 팁 더 보기)
``rm:<result>[:yes|no]`` delete one result re-opened from /history: ask, then yes or no
===================  ==============================================
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from . import texts
from .limits import (
    HISTORY_PAGE_SIZE,
    MAX_CALLBACK_DATA_BYTES,
    REMIND_CHOICES_DAYS,
    REMIND_MAX_DAYS,
)

__all__ = [
    "DELETE_PATTERN",
    "HISTORY_PATTERN",
    "OPEN_PATTERN",
    "RERUN_PATTERN",
    "CHOOSE_PATTERN",
    "caption_measurements",
    "choose_keyboard",
    "delete_keyboard",
    "parse_remind",
    "remind_keyboard",
    "history_keyboard",
    "page_count",
    "rerun_domains",
    "rerun_keyboard",
    "reopen_keyboard",
    "remove_keyboard",
    "trend_pair",
    "before_after",
    "REMOVE_PATTERN",
    "result_caption",
    "answer_keyboard",
    "tips_keyboard",
    "TIPS_PATTERN",
]

DOMAINS = ("scalp", "face")
#: Ids in callback data: at most 18 digits, so that they fit the database's 64-bit integers
#: (longer data is an old or forged button: stale_button answers it).
RERUN_PATTERN = re.compile(r"^rerun:(\d{1,18}):(scalp|face)$")
CHOOSE_PATTERN = re.compile(r"^pick:(\d{1,18}):(scalp|face)$")
HISTORY_PATTERN = re.compile(r"^hist:(\d{1,6})$")
OPEN_PATTERN = re.compile(r"^open:(\d{1,18})$")
DELETE_PATTERN = re.compile(r"^del:(yes|no)$")
REMIND_PATTERN = re.compile(r"^remind:(\d{1,3}|off)$")
TIPS_PATTERN = re.compile(r"^tips:(scalp|face):(LOW|MIDDLE|HIGH)$")
REMOVE_PATTERN = re.compile(r"^rm:(\d{1,18})(?::(yes|no))?$")
#: The grades whose answer offers the long tips (판단 어려움's caption gives the retake tips).
TIP_GRADES = ("LOW", "MIDDLE", "HIGH")
_TYPED_INTERVAL = re.compile(r"^(\d{1,3})\s*(주|w|weeks?|일|d|days?)?$")
DELETE_CHOICES = {"yes": "confirm", "no": "cancel"}


def _data(text: str) -> str:
    if len(text.encode()) > MAX_CALLBACK_DATA_BYTES:
        raise ValueError(f"callback data too long: {text!r}")
    return text


def _value(x: Any) -> str | None:
    return None if x is None else str(getattr(x, "value", x))


# --- keyboards -------------------------------------------------------------------------------------


def rerun_domains(result_domain: Any) -> list[str]:
    """The domains to offer as a re-run: the other one, or both when unknown."""
    domain = _value(result_domain)
    return [d for d in DOMAINS if d != domain]


def rerun_keyboard(job_id: int, domains: Iterable[str]) -> InlineKeyboardMarkup | None:
    buttons = [
        InlineKeyboardButton(
            texts.render("rerun_as", domain=d), callback_data=_data(f"rerun:{job_id}:{d}")
        )
        for d in domains
    ]
    return InlineKeyboardMarkup([buttons]) if buttons else None


def choose_keyboard(job_id: int, domains: Iterable[str]) -> InlineKeyboardMarkup:
    """두피 점검 / 피부 점검: which check the user meant, for a photo that could be either."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(texts.render("choose_button", domain=d), callback_data=_data(f"pick:{job_id}:{d}"))
        for d in domains
    ]])


def page_count(total: int) -> int:
    return max(1, math.ceil(total / HISTORY_PAGE_SIZE))


def history_keyboard(results: Sequence[Any], page: int, pages: int) -> InlineKeyboardMarkup | None:
    """One re-open button per result, then ◀ / ▶ where there is a page to go to."""
    rows = [
        [
            InlineKeyboardButton(
                texts.render("history_item", result=r),
                callback_data=_data(f"open:{r.result_id}"),
            )
        ]
        for r in results
    ]
    nav = []
    if page > 1:
        nav.append(InlineKeyboardButton(
            texts.render("history_nav", direction="prev"), callback_data=_data(f"hist:{page - 1}")
        ))
    if page < pages:
        nav.append(InlineKeyboardButton(
            texts.render("history_nav", direction="next"), callback_data=_data(f"hist:{page + 1}")
        ))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows) if rows else None


def reopen_keyboard(result_id: int) -> InlineKeyboardMarkup:
    """Under a result re-opened from /history: 이 기록 삭제."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        texts.render("remove_button", choice="ask"), callback_data=_data(f"rm:{result_id}"))]])


def remove_keyboard(result_id: int) -> InlineKeyboardMarkup:
    """The confirmation of 이 기록 삭제: delete it, or keep it."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(texts.render("remove_button", choice=choice),
                             callback_data=_data(f"rm:{result_id}:{choice}"))
        for choice in ("yes", "no")
    ]])


def trend_pair(domain: Any, results: Sequence[Any]) -> tuple[Any, Any] | None:
    """The latest graded result and the one before it of the same scalp view (or the face),
    to compare; None when there are not two. 판단 어려움 is never compared."""
    graded = [r for r in results if _value(r.grade) in TIP_GRADES]
    if not graded:
        return None
    latest = graded[-1]
    view = (latest.measurements or {}).get("view") if _value(domain) == "scalp" else None
    same = [r for r in graded[:-1] if ((r.measurements or {}).get("view") if view else None) == view]
    return (same[-1], latest) if same else None


def before_after(domain: Any, results: Sequence[Any]) -> tuple[Any, Any] | None:
    """The first and the latest graded result with an annotated photo of the latest one's
    scalp view (or the face), when their photos differ (an album's photos share one)."""
    shown = [r for r in results if _value(r.grade) in TIP_GRADES and r.annotated_file_id]
    if not shown:
        return None
    latest = shown[-1]
    view = (latest.measurements or {}).get("view") if _value(domain) == "scalp" else None
    first = next((r for r in shown if ((r.measurements or {}).get("view") if view else None) == view), None)
    if first is None or first.annotated_file_id == latest.annotated_file_id:
        return None
    return first, latest


def delete_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(texts.render("delete_button", choice=choice), callback_data=f"del:{key}")
        for key, choice in DELETE_CHOICES.items()
    ]])


REMIND_OFF_WORDS = frozenset({"off", "stop", "끄기", "끔", "중지", "0"})


def parse_remind(text: str) -> int | None | bool:
    """What a typed /remind asks for: days (``14``, ``2주``, ``10일``), False for off, None when
    it is not understood (out of 1..``REMIND_MAX_DAYS`` days too)."""
    t = text.strip().lower()
    if t in REMIND_OFF_WORDS:
        return False
    m = _TYPED_INTERVAL.match(t)
    if not m:
        return None
    days = int(m.group(1)) * (7 if (m.group(2) or "").startswith(("주", "w")) else 1)
    return days if 1 <= days <= REMIND_MAX_DAYS else None


def remind_keyboard(current_days: int | None) -> InlineKeyboardMarkup:
    """2주 / 4주 / 8주 / 끄기, the current setting marked (``current_days`` None: off)."""
    def label(days: int | None) -> str:
        text = texts.render("remind_button", days=days)
        return ("✓ " + text) if days == current_days else text
    return InlineKeyboardMarkup([[
        *(InlineKeyboardButton(label(d), callback_data=_data(f"remind:{d}")) for d in REMIND_CHOICES_DAYS),
        InlineKeyboardButton(label(None), callback_data=_data("remind:off")),
    ]])


# --- result texts -----------------------------------------------------------------------------------

#: The measurements the caption shows, per domain, and the JSON types they must have.
CAPTION_MEASUREMENTS: dict[str, dict[str, tuple[type, ...]]] = {
    "scalp": {"exposed_scalp_ratio": (int, float), "regions": (dict, list)},
    "face": {"lesion_count": (int, float), "lesion_density": (int, float),
             "lesion_density_unit": (str,)},
}


def caption_measurements(domain: Any, measurements: dict[str, Any] | None) -> dict[str, Any]:
    """The service's measurements reduced to what the caption template understands.

    The service reports more (pixel counts, ``regions`` as a count): only the
    known keys with the expected types pass, so a new or changed field can
    never break a caption. Numbers that are not finite (NaN, infinity) are left
    out too: the caption has no words for them.
    """
    wanted = CAPTION_MEASUREMENTS.get(_value(domain) or "", {})
    out = {}
    for key, types in wanted.items():
        value = (measurements or {}).get(key)
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, types) and not isinstance(value, bool):
            out[key] = value
    return out



def result_caption(domain: Any, grade: Any, confidence: float, measurements: dict[str, Any]) -> str:
    """The one answer's caption: the grade and what it means, the measurement behind it, three
    tips, when to see a 피부과 전문의, the not-a-diagnosis line (at most ``ANSWER_TEXT_LIMIT``
    characters, so it fits one phone screen; the long tips come on request, ``tips_keyboard``)."""
    return texts.render(
        "result_caption",
        domain=_value(domain),
        grade=_value(grade),
        confidence=confidence,
        measurements=caption_measurements(domain, measurements),
    )


def tips_keyboard(domain: Any, grade: Any) -> InlineKeyboardMarkup:
    """관리 팁 더 보기: the long care tips of a domain and grade, on request."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        texts.render("tips_button"), callback_data=_data(f"tips:{_value(domain)}:{_value(grade)}"))]])


def answer_keyboard(job_id: int, domain: Any, grade: Any) -> InlineKeyboardMarkup | None:
    """The answer's buttons: 관리 팁 더 보기 (not for 판단 어려움: its caption gives the retake
    tips), then the re-analyse choice of the other check."""
    rows: list[list[InlineKeyboardButton]] = []
    if _value(grade) in TIP_GRADES:
        rows.extend(list(row) for row in tips_keyboard(domain, grade).inline_keyboard)
    rerun = rerun_keyboard(job_id, rerun_domains(domain))
    if rerun is not None:
        rows.extend(list(row) for row in rerun.inline_keyboard)
    return InlineKeyboardMarkup(rows) if rows else None


def reopen_caption(result: Any) -> str:
    """The caption of a result re-opened from /history: the answer's own."""
    return result_caption(result.domain, result.grade, result.confidence, result.measurements)
