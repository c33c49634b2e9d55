"""Korean user-facing texts, rendered from the Jinja2 templates in ``messages/``.

All copy lives in the top-level ``messages/`` folder so that a reviewer can read
it in one place (care tips: ``messages/_tips.j2``; disclaimer and referral
lines: ``messages/_common.html.j2``). This module only wires up Jinja2::

    from bot import texts
    caption = texts.render("result_caption", domain="scalp", grade="MIDDLE",
                           confidence=0.82, measurements={...})

* ``*.html.j2`` templates are for messages sent with ``parse_mode=HTML``; every
  variable is HTML-escaped (autoescape). ``*.txt.j2`` templates (button labels)
  are plain text and not escaped. Partials start with ``_``.
* ``StrictUndefined``: a missing context variable raises instead of printing
  nothing, so tests catch it.
* Filters: ``percent``, ``pp`` (percentage-point delta), ``signed``, ``kdate``
  (Korean date in KST), ``grade_name``, ``domain_name``, ``region_name``,
  ``exposure_band`` (the band of an exposed-scalp ratio, by the percent shown).
"""
from __future__ import annotations

import importlib.resources
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = [
    "CAPTION_LIMIT",
    "DOMAIN_NAMES",
    "EXPOSURE_BANDS",
    "EXPOSURE_HIGH_FROM",
    "EXPOSURE_LOW_BELOW",
    "FACE_GRADE_NAMES",
    "GRADE_NAMES",
    "KST",
    "MESSAGES_DIR",
    "MESSAGE_LIMIT",
    "QUALITY_REASONS",
    "Trend",
    "build_environment",
    "describe_trend",
    "domain_name",
    "exposure_band",
    "confidence_word",
    "interval",
    "ktime",
    "kday",
    "view_name",
    "grade_name",
    "kdate",
    "percent",
    "render",
    "telegram_length",
    "template_names",
]

#: The templates: the ``messages`` package's data files (a folder on disk: Jinja2 reads files).
MESSAGES_DIR = Path(str(importlib.resources.files("messages")))

#: Telegram limits, in UTF-16 code units of the text after entity parsing.
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096

#: Korea Standard Time (no daylight saving), used for dates shown to users.
KST = timezone(timedelta(hours=9), "KST")

#: The grade names of the scalp check (the product's 정상 / 진행 중 / 심각).
GRADE_NAMES: Mapping[str, str] = {
    "LOW": "정상",
    "MIDDLE": "진행 중",
    "HIGH": "심각",
    "UNCERTAIN": "판단 어려움",
}

#: The face (acne) check's grades say what the photo shows: "진행 중" reads oddly for skin.
#: The annotated picture uses the same words (inference/pipeline/common/draw.py, a test
#: checks the two agree).
FACE_GRADE_NAMES: Mapping[str, str] = {
    "LOW": "트러블 적음",
    "MIDDLE": "트러블 중간",
    "HIGH": "트러블 많음",
    "UNCERTAIN": "판단 어려움",
}

DOMAIN_NAMES: Mapping[str, str] = {
    "scalp": "두피",
    "face": "피부(얼굴)",
}

#: Region keys the scalp model may report, with their Korean names.
REGION_NAMES: Mapping[str, str] = {
    "crown": "정수리",
    "vertex": "정수리",
    "top": "머리 윗부분",
    "mid": "머리 윗부분",
    "hairline": "헤어라인",
    "front": "헤어라인",
    "frontal": "헤어라인",
    "temple": "관자놀이",
    "temples": "관자놀이",
    "part": "가르마",
}

#: Quality-gate reasons that ``quality_retake`` has specific advice for.
#: Any other reason string falls back to a generic retake message.
QUALITY_REASONS: tuple[str, ...] = (
    "too_small",
    "too_dark",
    "too_bright",
    "blurry",
    "not_scalp_or_face",
    "no_scalp_found",
    "no_face_found",
)

_GRADE_RANK: Mapping[str, int] = {"LOW": 0, "MIDDLE": 1, "HIGH": 2}

#: Trend: changes within these bounds count as "유지" (about the same).
SCALP_SAME_WITHIN = 0.02  # exposed_scalp_ratio, i.e. 2 percentage points
FACE_SAME_WITHIN = 2  # detected lesions
#: Trend: a change under the first bound is "조금" (slight), from the second "크게" (large).
#: Scalp: 10 points is half the low band's width (EXPOSURE_LOW_BELOW), 25 points most of
#: the moderate band's (35 points, 20-55%): a change across a band. Face: the Hayashi levels
#: the grader follows (0-5, 6-20, 21-50 lesions; weights/MODEL_CARD.md) are 6 and 15 wide.
SCALP_CHANGE_BOUNDS = (0.10, 0.25)
FACE_CHANGE_BOUNDS = (6, 16)

#: Bands of the exposed-scalp ratio for the caption's describing sentence (its
#: Korean words: ``EXPOSURE_SENTENCE`` in ``messages/_exposure.j2``). They are
#: defined on the whole percent the caption shows (``percent``), so the sentence
#: describes exactly the number beside it: "19%" is ``low``, "20%" is ``moderate``.
#: Where the cut points come from: the scalp chain of weights/ (the four-class U-Net that
#: measures scalp skin only, 2026-12-07) on the 465 scalp_uze train photos, as the
#: training's grader stage measures them (weights/MODEL_CARD.md, "Metrics"). The ratio
#: alone hardly tells LOW from MIDDLE (medians 0.10 and 0.13, both spread over
#: 0.00-0.40: they differ in the hairline's shape), so the bands describe the number, not
#: the grade:
#: * under 20%: LOW photos' upper quartile is 0.18 and all photos' median 0.18; 55% of the
#:   photos.
#: * 55% and above: from here up, HIGH photos are 80-100% of every 5-point bin, below it
#:   at most 68% (0.25-0.30) and 44% at 0.50-0.55; 18% of the photos.
#: * between: the middle 27%.
EXPOSURE_LOW_BELOW = 20  # shown percent under this: "low"
EXPOSURE_HIGH_FROM = 55  # shown percent from this: "high"; between the two: "moderate"
EXPOSURE_BANDS: tuple[str, ...] = ("low", "moderate", "high")

#: The grade's confidence in words (높음 / 보통 / 낮음), per domain: a probability is not
#: shown, as "100%" on a guess would promise what no model here can. Where the cut points
#: come from: weights/MODEL_CARD.md, "How far the confidence can be trusted" (2026-12-07).
#: * scalp, the grader's grouped CV on the 465 train photos: under 0.5 right 0.55 of the
#:   time, 0.5-0.7 0.66, from 0.7 0.83;
#: * face, the calibration fold (199 ACNE04 train photos): under 0.6 0.49, 0.6-0.9 0.72,
#:   from 0.9 0.92.
CONFIDENCE_LOW_BELOW: Mapping[str, float] = {"scalp": 0.5, "face": 0.6}
CONFIDENCE_HIGH_FROM: Mapping[str, float] = {"scalp": 0.7, "face": 0.9}
CONFIDENCE_WORDS: Mapping[str, str] = {"high": "높음", "medium": "보통", "low": "낮음"}


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


def _key(value: Any) -> str:
    """Enum members (StrEnum) and plain strings alike -> their string value."""
    return str(getattr(value, "value", value))


def grade_name(grade: Any, domain: Any = "scalp") -> str:
    """``"MIDDLE"`` -> ``"진행 중"`` (scalp) or ``"트러블 중간"`` (face). Unknown grades raise
    ``KeyError`` (fail loudly)."""
    names = FACE_GRADE_NAMES if _key(domain) == "face" else GRADE_NAMES
    return names[_key(grade)]


def domain_name(domain: Any) -> str:
    """``"scalp"`` -> ``"두피"``, ``"face"`` -> ``"피부(얼굴)"``. Unknown raises ``KeyError``."""
    return DOMAIN_NAMES[_key(domain)]


def region_name(region: Any) -> str:
    """A scalp region key in Korean; unknown keys are shown as given (max 20 chars)."""
    key = _key(region)
    return REGION_NAMES.get(key.lower(), key[:20])


def _percent_number(value: float, digits: int = 0) -> str:
    """The number ``percent`` prints, without the sign: one formatting for both uses."""
    return f"{float(value) * 100:.{digits}f}"


def percent(value: float | None, digits: int = 0) -> str:
    """``0.823`` -> ``"82%"``; None -> ``"-"``."""
    if value is None:
        return "-"
    return _percent_number(value, digits) + "%"


def exposure_band(ratio: float) -> str:
    """The band of an exposed-scalp ratio (0..1): ``"low"``, ``"moderate"`` or ``"high"``.

    Judged on the whole percent that ``percent`` shows for the ratio, so that
    ``0.1949`` ("19%") is ``low`` and ``0.1951`` ("20%") is ``moderate``. The cut
    points are ``EXPOSURE_LOW_BELOW`` and ``EXPOSURE_HIGH_FROM``. A ratio that is
    not a finite number raises ``ValueError``.
    """
    shown = float(_percent_number(ratio))
    if not math.isfinite(shown):
        raise ValueError(f"exposed-scalp ratio is not a number: {ratio!r}")
    if shown < EXPOSURE_LOW_BELOW:
        return "low"
    if shown < EXPOSURE_HIGH_FROM:
        return "moderate"
    return "high"


def confidence_word(confidence: float | None, domain: Any) -> str:
    """The confidence of a grade in words: ``0.82`` for the scalp -> ``"높음"`` (the cut
    points: ``CONFIDENCE_LOW_BELOW`` and ``CONFIDENCE_HIGH_FROM``); None -> ``"-"``."""
    if confidence is None:
        return "-"
    key = str(getattr(domain, "value", domain))
    if confidence >= CONFIDENCE_HIGH_FROM.get(key, 1.0):
        return CONFIDENCE_WORDS["high"]
    if confidence < CONFIDENCE_LOW_BELOW.get(key, 0.5):
        return CONFIDENCE_WORDS["low"]
    return CONFIDENCE_WORDS["medium"]


def interval(days: int) -> str:
    """A reminder's period in words: ``14`` -> ``"2주"``, ``10`` -> ``"10일"``."""
    days = int(days)
    return f"{days // 7}주" if days % 7 == 0 else f"{days}일"


def pp(delta: float | None, digits: int = 1) -> str:
    """A ratio difference as signed percentage points: ``-0.021`` -> ``"-2.1%p"``."""
    if delta is None:
        return "-"
    points = round(float(delta) * 100, digits)
    return f"{points:+.{digits}f}%p" if points else f"{0:.{digits}f}%p"


def signed(value: float | int | None) -> str:
    """``3`` -> ``"+3"``, ``-2`` -> ``"-2"``, ``0`` -> ``"0"``; floats keep one decimal."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:+.1f}"
    number = int(value)
    return f"{number:+d}" if number else "0"


#: The scalp views the service reports (``measurements.view``), as /history names them.
VIEW_NAMES: Mapping[str, str] = {
    "Top-Down": "정수리",
    "Front": "앞머리",
    "Back": "뒤통수",
    "Left": "왼쪽 옆머리",
    "Right": "오른쪽 옆머리",
}


def view_name(view: Any) -> str:
    """``"Top-Down"`` -> ``"정수리"``; an unknown view -> ``""``."""
    return VIEW_NAMES.get(str(view), "")


def _kst(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(KST)


def ktime(value: datetime | str) -> str:
    """A Korean time of day in KST, ``오후 3:05`` (naive datetimes are UTC, as in ``kdate``)."""
    t = _kst(value)
    half = "오전" if t.hour < 12 else "오후"
    return f"{half} {(t.hour % 12) or 12}:{t.minute:02d}"


def kday(value: datetime | str) -> str:
    """A short day in KST, ``12/7`` (for labels on a phone-wide button)."""
    t = _kst(value)
    return f"{t.month}/{t.day}"


def kdate(value: datetime | date | str) -> str:
    """A Korean date, ``2026년 11월 26일``. Aware datetimes are shown in KST.

    Naive datetimes are taken as UTC (the storage layer stores UTC only).
    ISO-8601 strings are accepted too.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(KST).date()
    return f"{value.year}년 {value.month}월 {value.day}일"


# --------------------------------------------------------------------------
# Trend
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trend:
    """How one result compares to the previous one in the same domain.

    ``direction``: ``better`` (개선), ``same`` (유지), ``worse`` (악화) or
    ``unknown`` (not comparable, e.g. an UNCERTAIN result). ``metric`` is the
    measurement compared (``exposed_scalp_ratio`` or ``lesion_count``), or
    None when only the grades could be compared.
    """

    direction: Literal["better", "same", "worse", "unknown"]
    metric: str | None
    before: float | None
    after: float | None
    #: How large a change is, so that the words fit it (``slight`` 조금, ``clear``, ``large``
    #: 크게); None for ``same`` and ``unknown``.
    size: Literal["slight", "clear", "large"] | None = None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def describe_trend(domain: Any, previous: Any, current: Any) -> Trend:
    """Compare two results (objects or mappings with ``grade`` and ``measurements``).

    Scalp compares ``exposed_scalp_ratio`` (within 2 percentage points counts
    as the same), face compares ``lesion_count`` (within 2 lesions counts as
    the same); for both, lower is better. Without the measurement it falls
    back to the grade order LOW < MIDDLE < HIGH. An UNCERTAIN grade on either
    side makes the trend ``unknown``.
    """
    grades = (_key(_field(previous, "grade")), _key(_field(current, "grade")))
    if "UNCERTAIN" in grades:
        return Trend("unknown", None, None, None)
    metric, tolerance = (
        ("exposed_scalp_ratio", SCALP_SAME_WITHIN)
        if _key(domain) == "scalp"
        else ("lesion_count", FACE_SAME_WITHIN)
    )
    before = _number((_field(previous, "measurements") or {}).get(metric))
    after = _number((_field(current, "measurements") or {}).get(metric))
    if before is not None and after is not None:
        change = after - before
        if abs(change) <= tolerance + 1e-9:
            return Trend("same", metric, before, after)
        slight_below, large_from = SCALP_CHANGE_BOUNDS if metric == "exposed_scalp_ratio" else FACE_CHANGE_BOUNDS
        size: Literal["slight", "clear", "large"] = (
            "slight" if abs(change) < slight_below - 1e-9
            else "large" if abs(change) >= large_from - 1e-9 else "clear")
        return Trend("worse" if change > 0 else "better", metric, before, after, size)
    rank_before, rank_after = (_GRADE_RANK.get(g) for g in grades)
    if rank_before is None or rank_after is None:
        return Trend("unknown", None, None, None)
    if rank_after == rank_before:
        return Trend("same", None, None, None)
    steps = abs(rank_after - rank_before)  # a grade apart is a clear change, two a large one
    return Trend("worse" if rank_after > rank_before else "better", None, None, None,
                 "large" if steps > 1 else "clear")


# --------------------------------------------------------------------------
# Environment and rendering
# --------------------------------------------------------------------------


def _autoescape(template_name: str | None) -> bool:
    """Escape everything except plain-text ``*.txt.j2`` templates."""
    return template_name is None or not template_name.endswith(".txt.j2")


def build_environment(messages_dir: Path = MESSAGES_DIR) -> Environment:
    """A Jinja2 environment over ``messages_dir`` with the project's filters."""
    env = Environment(
        loader=FileSystemLoader(messages_dir),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters.update(
        percent=percent,
        pp=pp,
        signed=signed,
        kdate=kdate,
        grade_name=grade_name,
        domain_name=domain_name,
        region_name=region_name,
        exposure_band=exposure_band,
        confidence_word=confidence_word,
        interval=interval,
        ktime=ktime,
        kday=kday,
        view_name=view_name,
    )
    env.globals.update(describe_trend=describe_trend)
    return env


_ENV = build_environment()
_TEMPLATE_SUFFIXES = (".html.j2", ".txt.j2")
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _tidy(text: str) -> str:
    """Trim trailing spaces, keep at most one empty line in a row, strip the ends."""
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _resolve(name: str) -> str:
    if name.endswith(".j2"):
        return name
    for suffix in _TEMPLATE_SUFFIXES:
        candidate = name + suffix
        if (MESSAGES_DIR / candidate).is_file():
            return candidate
    raise LookupError(f"no template named {name!r} in {MESSAGES_DIR}")


def render(name: str, /, **ctx: Any) -> str:
    """Render ``messages/<name>.html.j2`` (or ``.txt.j2``) and tidy the whitespace.

    ``name`` is given without the suffix, e.g. ``render("help")``. HTML
    templates return text ready for ``parse_mode=HTML``.
    """
    return _tidy(_ENV.get_template(_resolve(name)).render(**ctx))


def template_names() -> list[str]:
    """The public template names (no partials), without suffix, sorted."""
    names = []
    for path in MESSAGES_DIR.iterdir():
        for suffix in _TEMPLATE_SUFFIXES:
            if path.name.endswith(suffix) and not path.name.startswith("_"):
                names.append(path.name.removesuffix(suffix))
    return sorted(names)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def telegram_length(html_text: str) -> int:
    """Length as Telegram counts it for the limits: UTF-16 code units of the
    visible text after HTML entities are parsed (tags removed, ``&lt;`` -> ``<``).
    """
    parser = _VisibleText()
    parser.feed(html_text)
    parser.close()
    return len("".join(parser.parts).encode("utf-16-le")) // 2
