"""The /history trend chart: grade and measurement over time for one domain, as PNG.

matplotlib's Agg canvas on a ``Figure`` made directly (no pyplot, no global
figure state), so :func:`render_trend_png` is safe to run in a worker thread::

    png = await asyncio.to_thread(render_trend_png, "scalp", results)

The chart is made to be read on a phone (Telegram shows the photo about
:data:`PHONE_WIDTH_PX` CSS px wide): every text is at least :data:`MIN_TEXT_PX`
there, each point's x label is distinct (a KST date, plus the time of day where a
date has several checks), UNCERTAIN results are left out (they have no place on a
grade scale), and the scalp views are one line each instead of one zig-zag line.

Korean labels come from ``messages/chart_label.txt.j2`` and ``bot.texts``; the
font is Noto Sans KR from the pip package ``pylopdf-fonts-ko`` (SIL OFL 1.1), the
one the service draws its annotated photos with, found by :func:`korean_font_path`.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import io
import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; the bot never shows windows

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties, fontManager  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from . import texts  # noqa: E402
from .limits import TREND_MAX_POINTS  # noqa: E402

__all__ = ["FONT_FILE", "FONT_PACKAGE", "korean_font_path", "render_trend_png"]

#: The Korean font: a data-only wheel (pip: pylopdf-fonts-ko), so no system font or download.
FONT_PACKAGE = "pylopdf_fonts_ko"
FONT_FILE = "NotoSansKR-Regular.otf"

# --- size: readable on a phone ------------------------------------------------------------------
#
# Telegram shows a photo at about the phone's width, 390 CSS px on a common phone, whatever
# its pixel size. A text of s points in a figure w inches wide is then s * 390 / (72 * w)
# CSS px tall, whatever the dpi: only the figure's width in inches sets how big the text
# reads, the dpi only how sharp it is. Text under 12 px is hard to read on a phone, so the
# sizes are chosen in CSS px at that width (TEXT_PX, TITLE_PX) and turned into points with
# :func:`_points`; a narrow figure (4.2 in, not the 7.2 in of a desktop chart) keeps the
# plots themselves large next to that text.

#: The width a phone shows the photo at, in CSS px.
PHONE_WIDTH_PX = 390
#: The smallest text that reads on a phone, in CSS px at PHONE_WIDTH_PX.
MIN_TEXT_PX = 12
#: Portrait, about the phone's shape: 924 x 1188 px at DPI.
FIGURE_SIZE_INCHES = (4.2, 5.4)
#: Sharp on a 2.4x phone screen (924 px / 390 px), and under Telegram's 1280 px photo side.
DPI = 220
#: Tick labels, axis labels, legend and values; 13 px gives a margin over MIN_TEXT_PX.
TEXT_PX = 13.0
TITLE_PX = 16.0

#: y positions of the grades in the top panel. UNCERTAIN is not a grade on this scale: not drawn.
GRADE_LEVELS = {"LOW": 0, "MIDDLE": 1, "HIGH": 2}
PERCENT = 100.0
#: With more points than this, only each line's newest value is written next to it.
ANNOTATE_ALL_UP_TO = 8
#: Room between two shown x labels, in CSS px at PHONE_WIDTH_PX.
TICK_GAP_PX = 8.0
#: A series for the scalp results without a known view (``measurements.view``).
OTHER_VIEW = ""


@dataclass(frozen=True, slots=True)
class _Style:
    color: str
    marker: str


#: One colour and one marker per scalp view (Okabe-Ito colours, told apart also without
#: colour vision), in the order of ``texts.VIEW_NAMES``; the face has one line.
VIEW_STYLES: dict[str, _Style] = {
    "Top-Down": _Style("#0072B2", "o"),
    "Front": _Style("#E69F00", "s"),
    "Back": _Style("#009E73", "^"),
    "Left": _Style("#CC79A7", "D"),
    "Right": _Style("#D55E00", "v"),
    OTHER_VIEW: _Style("#7A7A7A", "X"),
}
FACE_STYLE = _Style("#0072B2", "o")
LINE_WIDTH = 2.0
MARKER_SIZE = 7.0

_font_lock = threading.Lock()
#: Keeps a font copied out of a zipped install on disk until the process exits.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


@lru_cache(maxsize=1)
def korean_font_path() -> Path:
    """The Korean font file (:data:`FONT_FILE` of :data:`FONT_PACKAGE`) as a real path on disk."""
    resource = importlib.resources.files(FONT_PACKAGE) / FONT_FILE
    path = Path(str(resource))
    if not path.is_file():  # a zipped install: copy it out once, kept until exit
        path = _extracted.enter_context(importlib.resources.as_file(resource))
    return path


def _font(path: Path | None) -> FontProperties:
    font_path = path or korean_font_path()
    with _font_lock:
        fontManager.addfont(str(font_path))  # idempotent; lets tick labels use it by name
    return FontProperties(fname=str(font_path))


def _points(css_px: float) -> float:
    """A font size in points that shows ``css_px`` tall at :data:`PHONE_WIDTH_PX`."""
    return css_px * 72.0 * FIGURE_SIZE_INCHES[0] / PHONE_WIDTH_PX


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _measure(domain: str, measurements: dict[str, Any]) -> float | None:
    key = "exposed_scalp_ratio" if domain == "scalp" else "lesion_count"
    value = measurements.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) * PERCENT if domain == "scalp" else float(value)


@dataclass(frozen=True, slots=True)
class _Point:
    when: datetime  # KST
    level: int  # GRADE_LEVELS
    measure: float | None
    series: str  # a view of VIEW_STYLES (scalp), OTHER_VIEW otherwise


def _points_of(domain: str, results: Sequence[Any]) -> list[_Point]:
    """The results that have a grade on the scale (no UNCERTAIN, none without a grade),
    the newest :data:`TREND_MAX_POINTS` of them, oldest first."""
    points = []
    for result in results:
        grade = _field(result, "grade")
        level = GRADE_LEVELS.get(str(getattr(grade, "value", grade))) if grade else None
        when = _field(result, "created_at")
        if level is None or not isinstance(when, datetime):
            continue
        if when.tzinfo is None:  # the storage layer speaks UTC
            when = when.replace(tzinfo=UTC)
        measurements = _field(result, "measurements") or {}
        view = str(measurements.get("view")) if domain == "scalp" else OTHER_VIEW
        points.append(_Point(when=when.astimezone(texts.KST), level=level,
                             measure=_measure(domain, measurements),
                             series=view if view in texts.VIEW_NAMES else OTHER_VIEW))
    return points[-TREND_MAX_POINTS:]


def _tick_labels(times: Sequence[datetime]) -> list[str]:
    """One distinct x label per point: ``"12/7"``; ``"12/7\\n15:05"`` where that date has
    several points; seconds where a minute has several, then a running number.

    A month/day that two years share is written with its year, ``"2025/12/7"``.
    """
    dates = [t.date() for t in times]
    month_day = [f"{d.month}/{d.day}" for d in dates]
    years_of = Counter(md for md, _ in set(zip(month_day, (d.year for d in dates))))
    per_date = Counter(dates)
    per_minute = Counter(t.replace(second=0, microsecond=0) for t in times)
    labels = []
    for t, d, md in zip(times, dates, month_day):
        text = f"{d.year}/{md}" if years_of[md] > 1 else md
        if per_date[d] > 1:
            minute = per_minute[t.replace(second=0, microsecond=0)]
            text += "\n" + (f"{t:%H:%M:%S}" if minute > 1 else f"{t:%H:%M}")
        labels.append(text)
    repeated = Counter(labels)
    numbered: Counter[str] = Counter()
    for i, text in enumerate(labels):
        if repeated[text] > 1:  # the same second: number them in order
            numbered[text] += 1
            labels[i] = f"{text} ({numbered[text]})"
    return labels


def _series_order(domain: str, points: Sequence[_Point]) -> list[str]:
    present = {p.series for p in points}
    if domain != "scalp":
        return [OTHER_VIEW] if points else []
    return [view for view in VIEW_STYLES if view in present]


def _show_some_ticks(figure: Figure, axes: Axes, labels: Sequence[str]) -> None:
    """All x labels where they fit side by side; else every k-th, counted back from the
    newest, with an unlabelled tick at every point."""
    xs = list(range(len(labels)))
    axes.set_xticks(xs, labels)
    if len(xs) < 2:
        return
    figure.draw_without_rendering()  # lays the figure out: the sizes below are final
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    widest = max(text.get_window_extent(renderer).width for text in axes.get_xticklabels())
    gap = TICK_GAP_PX * figure.bbox.width / PHONE_WIDTH_PX
    per_point = axes.get_window_extent(renderer).width / len(xs)
    step = max(1, math.ceil((widest + gap) / per_point))
    if step > 1:
        shown = xs[::-1][::step][::-1]
        axes.set_xticks(shown, [labels[x] for x in shown])
        axes.set_xticks(xs, minor=True)


def _figure(domain: str, results: Sequence[Any], *, font_path: Path | None = None) -> Figure:
    """The chart of :func:`render_trend_png` as a laid-out ``Figure`` (tests read its texts)."""
    domain = str(getattr(domain, "value", domain))
    points = _points_of(domain, results)
    font = _font(font_path)
    family = font.get_name()
    text_pt, title_pt = _points(TEXT_PX), _points(TITLE_PX)
    text_font = font.copy()
    text_font.set_size(text_pt)

    def label(name: str) -> str:
        return texts.render("chart_label", label=name, domain=domain)

    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    figure.suptitle(label("title"), fontproperties=font, fontsize=title_pt)

    series = _series_order(domain, points)
    annotate_all = len(points) <= ANNOTATE_ALL_UP_TO
    handles: list[Line2D] = []
    for key in series:
        style = VIEW_STYLES[key] if domain == "scalp" else FACE_STYLE
        name = (texts.view_name(key) or label("other_view")) if domain == "scalp" else ""
        line = dict(color=style.color, marker=style.marker, linewidth=LINE_WIDTH,
                    markersize=MARKER_SIZE, label=name)
        mine = [(x, p) for x, p in enumerate(points) if p.series == key]
        (handle,) = top.plot([x for x, _ in mine], [p.level for _, p in mine], **line)
        handles.append(handle)
        measured = [(x, p.measure) for x, p in mine if p.measure is not None]
        if not measured:
            continue
        bottom.plot([x for x, _ in measured], [m for _, m in measured], **line)
        for x, m in measured if annotate_all else measured[-1:]:
            newest = x == len(points) - 1  # centred, it would run off the figure's edge
            bottom.annotate(f"{m:.0f}", (x, m), textcoords="offset points",
                            xytext=(4 if newest else 0, 7), ha="right" if newest else "center",
                            color=style.color, fontproperties=text_font)

    top.set_yticks(list(GRADE_LEVELS.values()),
                   [texts.grade_name(grade, domain) for grade in GRADE_LEVELS])
    top.set_ylim(min(GRADE_LEVELS.values()) - 0.4, max(GRADE_LEVELS.values()) + 0.4)
    top.set_ylabel(label("grade_axis"), fontproperties=text_font)
    if not points:
        top.text(0.5, 0.5, label("no_grades"), transform=top.transAxes, ha="center",
                 va="center", fontproperties=text_font)
    measures = [p.measure for p in points if p.measure is not None]
    bottom.set_ylim(bottom=0, top=max(measures, default=0.0) * 1.3 + 1)
    bottom.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # whole % or lesions
    bottom.set_ylabel(label("measure_axis"), fontproperties=text_font)
    bottom.set_xlabel(label("date_axis"), fontproperties=text_font)
    bottom.set_xlim(-0.5, max(len(points) - 0.5, 0.5))
    for axes in (top, bottom):
        axes.grid(axis="y", alpha=0.3)
        axes.tick_params(labelsize=text_pt, labelfontfamily=family)
        for axis in (axes.xaxis, axes.yaxis):
            axis.get_offset_text().set_fontsize(text_pt)
    if len(handles) > 1:  # one line needs no legend
        figure.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)),
                      prop=text_font, frameon=False, handlelength=1.6, columnspacing=1.0)
    _show_some_ticks(figure, bottom, _tick_labels([p.when for p in points]))
    return figure


def render_trend_png(
    domain: str, results: Sequence[Any], *, font_path: Path | None = None
) -> bytes:
    """A PNG of ``results`` (oldest first; Result objects or mappings) in one domain.

    Top: the grade at each check (정상 / 진행 중 / 심각, or the face's names), one line per
    scalp view; UNCERTAIN results are left out. Bottom: the exposed-scalp ratio (%) or the
    lesion count, the same lines. x: the checks in order, labelled with their KST dates.
    """
    buffer = io.BytesIO()
    _figure(domain, results, font_path=font_path).savefig(buffer, format="png")
    return buffer.getvalue()
