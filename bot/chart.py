"""The /history trend chart: grade and measurement over time for one domain, as PNG.

matplotlib's Agg canvas on a ``Figure`` made directly (no pyplot, no global
figure state), so :func:`render_trend_png` is safe to run in a worker thread::

    png = await asyncio.to_thread(render_trend_png, "scalp", results)

Korean labels come from ``messages/chart_label.txt.j2`` and ``bot.texts``; the
font is Noto Sans KR from the pip package ``pylopdf-fonts-ko`` (SIL OFL 1.1), the
one the service draws its annotated photos with, found by :func:`korean_font_path`.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import io
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; the bot never shows windows

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties, fontManager  # noqa: E402

from . import texts  # noqa: E402
from .limits import TREND_MAX_POINTS  # noqa: E402

__all__ = ["FONT_FILE", "FONT_PACKAGE", "korean_font_path", "render_trend_png"]

#: The Korean font: a data-only wheel (pip: pylopdf-fonts-ko), so no system font or download.
FONT_PACKAGE = "pylopdf_fonts_ko"
FONT_FILE = "NotoSansKR-Regular.otf"

#: y positions of the grades on the chart; UNCERTAIN sits apart, below.
GRADE_LEVELS = {"LOW": 0, "MIDDLE": 1, "HIGH": 2, "UNCERTAIN": -1}
FIGURE_SIZE_INCHES = (7.2, 5.4)
DPI = 110
GRADE_COLOR = "#3b6fb6"
UNCERTAIN_COLOR = "#9a9a9a"
MEASURE_COLOR = "#d0417e"
PERCENT = 100.0

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


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def _measure(domain: str, measurements: dict[str, Any]) -> float | None:
    key = "exposed_scalp_ratio" if domain == "scalp" else "lesion_count"
    value = measurements.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) * PERCENT if domain == "scalp" else float(value)


def render_trend_png(
    domain: str, results: Sequence[Any], *, font_path: Path | None = None
) -> bytes:
    """A PNG of ``results`` (oldest first; Result objects or mappings) in one domain.

    Top: the grade at each check (정상 / 진행 중 / 심각, 판단 어려움 apart).
    Bottom: the exposed-scalp ratio (%) or the lesion count. x: the check dates (KST).
    """
    domain = str(getattr(domain, "value", domain))
    points = list(results)[-TREND_MAX_POINTS:]
    font = _font(font_path)
    family = font.get_name()

    def label(name: str) -> str:
        return texts.render("chart_label", label=name, domain=domain)

    xs = list(range(len(points)))
    grades = [str(getattr(_field(r, "grade"), "value", _field(r, "grade"))) for r in points]
    dates = [_field(r, "created_at").astimezone(texts.KST) for r in points]
    measures = [_measure(domain, _field(r, "measurements") or {}) for r in points]

    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    figure.suptitle(label("title"), fontproperties=font, fontsize=15)

    graded = [(x, GRADE_LEVELS[g]) for x, g in zip(xs, grades) if g != "UNCERTAIN"]
    if graded:
        gx, gy = zip(*graded)
        top.plot(gx, gy, color=GRADE_COLOR, marker="o", linewidth=2, markersize=7)
    uncertain = [x for x, g in zip(xs, grades) if g == "UNCERTAIN"]
    if uncertain:
        top.scatter(uncertain, [GRADE_LEVELS["UNCERTAIN"]] * len(uncertain),
                    facecolors="none", edgecolors=UNCERTAIN_COLOR, s=60, linewidths=1.5)
    levels = sorted(GRADE_LEVELS.items(), key=lambda item: item[1])
    top.set_yticks([level for _, level in levels],
                   [texts.grade_name(grade) for grade, _ in levels], fontproperties=font)
    top.set_ylim(min(GRADE_LEVELS.values()) - 0.5, max(GRADE_LEVELS.values()) + 0.5)
    top.set_ylabel(label("grade_axis"), fontproperties=font)
    top.grid(axis="y", alpha=0.3)

    measured = [(x, m) for x, m in zip(xs, measures) if m is not None]
    if measured:
        mx, my = zip(*measured)
        bottom.plot(mx, my, color=MEASURE_COLOR, marker="s", linewidth=2, markersize=6)
        for x, m in measured:
            bottom.annotate(f"{m:.0f}", (x, m), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=9)
        bottom.set_ylim(bottom=0, top=max(my) * 1.25 + 1)
    bottom.set_ylabel(label("measure_axis"), fontproperties=font)
    bottom.set_xlabel(label("date_axis"), fontproperties=font)
    bottom.set_xticks(xs, [f"{d.month}/{d.day}" for d in dates], family=family)
    bottom.set_xlim(-0.5, max(len(xs) - 0.5, 0.5))
    bottom.grid(axis="y", alpha=0.3)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
