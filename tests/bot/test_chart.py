"""bot/chart.py: the /history trend chart reads on a phone, with the project's one Korean font."""
from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import SimpleNamespace

import pylopdf_fonts_ko
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from PIL import Image

from bot import texts
from bot.chart import (
    FONT_FILE,
    MIN_TEXT_PX,
    PHONE_WIDTH_PX,
    _figure,
    _tick_labels,
    korean_font_path,
    render_trend_png,
)
from bot.limits import TREND_MAX_POINTS

T0 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)  # 12:00 KST


class Grade(StrEnum):
    LOW = "LOW"
    MIDDLE = "MIDDLE"
    HIGH = "HIGH"
    UNCERTAIN = "UNCERTAIN"


def results(domain: str) -> list[dict]:
    grades = ["LOW", "MIDDLE", "UNCERTAIN", "HIGH"]
    key, values = (("exposed_scalp_ratio", [0.1, 0.22, 0.3, 0.41]) if domain == "scalp"
                   else ("lesion_count", [2, 7, 5, 14]))
    return [{"created_at": T0 + timedelta(days=30 * i), "grade": g, "measurements": {key: v}}
            for i, (g, v) in enumerate(zip(grades, values))]


def scalp_views() -> list[dict]:
    """Two views taken turn about, one UNCERTAIN among them, and one without a view."""
    rows = [("Top-Down", "LOW", 0.12), ("Front", "MIDDLE", 0.25), ("Top-Down", "MIDDLE", 0.15),
            ("Front", "UNCERTAIN", 0.77), ("Front", "HIGH", 0.31), ("Top-Down", "MIDDLE", 0.18)]
    return [{"created_at": T0 + timedelta(days=7 * i), "grade": g,
             "measurements": {"exposed_scalp_ratio": r, "view": v}}
            for i, (v, g, r) in enumerate(rows)]


def drawn(domain: str, rows: list) -> Figure:
    figure = _figure(domain, rows)
    figure.canvas.draw()
    return figure


def shown_texts(figure: Figure) -> list[Text]:
    """Every text that is drawn: visible, not empty, its tick (if any) in view."""
    hidden = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            hidden |= {id(tick.label1) for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                       if not lo - 1e-9 <= tick.get_loc() <= hi + 1e-9}
    return [text for text in figure.findobj(Text)
            if text.get_visible() and text.get_text().strip() and id(text) not in hidden]


def x_labels(figure: Figure) -> list[str]:
    bottom = figure.axes[-1]
    return [t.get_text() for t in bottom.get_xticklabels() if t.get_visible() and t.get_text()]


def lines(figure: Figure, panel: int) -> list[Line2D]:
    return [line for line in figure.axes[panel].get_lines() if len(line.get_xdata())]


def test_the_font_is_noto_sans_kr_from_its_wheel() -> None:
    """The font the service draws its annotated photos with: Noto Sans KR, from its wheel."""
    path = korean_font_path()
    assert path.name == FONT_FILE == pylopdf_fonts_ko.sans_path().name and path.is_file()


@pytest.mark.parametrize("domain", ["scalp", "face"])
def test_png_with_every_korean_glyph(domain: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        png = render_trend_png(domain, results(domain))
        render_trend_png("scalp", scalp_views() + [{**scalp_views()[0], "measurements": {}}])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_two_points_and_missing_measurements() -> None:
    rows = results("scalp")[:2]
    rows[1] = {**rows[1], "measurements": {}}
    assert render_trend_png("scalp", rows).startswith(b"\x89PNG")


def test_png_decodes_at_the_figure_size() -> None:
    figure = _figure("scalp", scalp_views())
    width, height = (round(v) for v in figure.bbox.size)
    image = Image.open(io.BytesIO(render_trend_png("scalp", scalp_views())))
    assert image.format == "PNG" and image.size == (width, height)
    assert 800 <= width <= 1000 and height > width  # a phone-shaped portrait


@pytest.mark.parametrize(("domain", "rows"), [
    ("scalp", scalp_views()),
    ("face", results("face")),
    ("face", [{"created_at": T0 + timedelta(days=3 * i, minutes=i), "grade": "MIDDLE",
               "measurements": {"lesion_count": 100 + i}} for i in range(TREND_MAX_POINTS)]),
    ("scalp", [{**r, "grade": "UNCERTAIN"} for r in scalp_views()]),  # nothing to plot
], ids=["scalp-views", "face", "face-many", "only-uncertain"])
def test_every_text_is_at_least_12_px_on_a_phone(domain: str, rows: list) -> None:
    figure = drawn(domain, rows)
    scale = figure.dpi / 72 * PHONE_WIDTH_PX / figure.bbox.width
    found = shown_texts(figure)
    assert len(found) >= 8  # title, axis labels, ticks...
    small = {t.get_text(): round(t.get_fontsize() * scale, 2) for t in found
             if t.get_fontsize() * scale < MIN_TEXT_PX}
    assert small == {}


def test_the_texts_are_there() -> None:
    figure = drawn("scalp", scalp_views())
    shown = {t.get_text() for t in shown_texts(figure)}
    assert texts.render("chart_label", label="title", domain="scalp") in shown
    assert {"정상", "진행 중", "심각", "정수리", "앞머리"} <= shown
    assert "판단 어려움" not in shown  # UNCERTAIN is not on the grade scale
    assert {"18", "31"} <= shown  # the newest values, written next to them (%)


def test_three_checks_on_one_day_have_distinct_labels_with_times() -> None:
    rows = [{"created_at": T0 + timedelta(hours=h), "grade": "LOW",
             "measurements": {"lesion_count": h}} for h in (0, 3, 6)]
    rows.append({"created_at": T0 + timedelta(days=2), "grade": "HIGH",
                 "measurements": {"lesion_count": 9}})
    labels = x_labels(drawn("face", rows))
    assert labels == ["1/10\n12:00", "1/10\n15:00", "1/10\n18:00", "1/12"]  # KST


def test_labels_in_one_minute_or_second_still_differ() -> None:
    kst = texts.KST
    times = [datetime(2026, 12, 7, 15, 5, 7, tzinfo=kst), datetime(2026, 12, 7, 15, 5, 40, tzinfo=kst),
             datetime(2026, 12, 7, 15, 5, 40, tzinfo=kst), datetime(2026, 12, 7, 16, 0, tzinfo=kst),
             datetime(2025, 12, 7, 9, 0, tzinfo=kst), datetime(2026, 12, 8, 9, 0, tzinfo=kst)]
    labels = _tick_labels(times)
    assert len(set(labels)) == len(labels)
    assert labels[0] == "2026/12/7\n15:05:07" and labels[3] == "2026/12/7\n16:00"
    assert labels[4] == "2025/12/7" and labels[5] == "12/8"


def test_many_points_show_some_labels_all_distinct() -> None:
    rows = [{"created_at": T0 + timedelta(hours=5 * i), "grade": "MIDDLE",
             "measurements": {"lesion_count": i}} for i in range(TREND_MAX_POINTS + 5)]
    figure = drawn("face", rows)
    labels = x_labels(figure)
    assert 2 <= len(labels) < TREND_MAX_POINTS and len(set(labels)) == len(labels)
    plotted = [T0.astimezone(texts.KST) + timedelta(hours=5 * i) for i in range(5, len(rows))]
    assert labels[-1] == _tick_labels(plotted)[-1]  # the newest check is always labelled
    (line,) = lines(figure, 0)
    assert len(line.get_xdata()) == TREND_MAX_POINTS  # the newest ones
    bottom = figure.axes[-1]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in bottom.get_xticklabels() if t.get_text()]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))  # side by side, no overlap


@pytest.mark.parametrize("grade_of", [str, Grade], ids=["str", "StrEnum"])
def test_uncertain_and_ungraded_results_are_not_plotted(grade_of: type) -> None:
    rows = [SimpleNamespace(created_at=T0 + timedelta(days=i), grade=grade_of(g) if g else None,
                            measurements={"lesion_count": n})
            for i, (g, n) in enumerate([("LOW", 3), ("UNCERTAIN", 55), ("HIGH", 9),
                                        (None, 66), ("MIDDLE", 4)])]
    figure = drawn("face", rows)
    (grades,) = lines(figure, 0)
    (counts,) = lines(figure, 1)
    assert list(grades.get_ydata()) == [0, 2, 1]  # LOW, HIGH, MIDDLE; nothing below LOW
    assert list(counts.get_ydata()) == [3, 9, 4]  # not 55 nor 66
    assert list(grades.get_xdata()) == list(counts.get_xdata()) == [0, 1, 2]
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == [
        texts.grade_name(g, "face") for g in ("LOW", "MIDDLE", "HIGH")]
    assert x_labels(figure) == ["1/10", "1/12", "1/14"]
    assert figure.legends == []  # one line: no legend


def test_scalp_views_are_one_line_each_with_a_legend() -> None:
    figure = drawn("scalp", scalp_views())
    for panel in (0, 1):
        found = {line.get_label(): line for line in lines(figure, panel)}
        assert set(found) == {"정수리", "앞머리"}
        top_down, front = found["정수리"], found["앞머리"]
        assert list(top_down.get_xdata()) == [0, 2, 4] and list(front.get_xdata()) == [1, 3]
        assert top_down.get_color() != front.get_color()
        assert top_down.get_marker() != front.get_marker()
    measured = {label: list(line.get_ydata()) for label, line in
                ((line.get_label(), line) for line in lines(figure, 1))}
    assert measured["앞머리"] == pytest.approx([25, 31])  # the UNCERTAIN 77% is left out
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["정수리", "앞머리"]


def test_results_without_a_known_view_are_one_series() -> None:
    rows = scalp_views()[:3]
    rows.append({"created_at": T0 + timedelta(days=30), "grade": "LOW",
                 "measurements": {"exposed_scalp_ratio": 0.2}})
    rows.append({"created_at": T0 + timedelta(days=31), "grade": "LOW",
                 "measurements": {"exposed_scalp_ratio": 0.2, "view": "Sideways"}})
    figure = drawn("scalp", rows)
    other = texts.render("chart_label", label="other_view", domain="scalp")
    assert [line.get_label() for line in lines(figure, 0)] == ["정수리", "앞머리", other]
    assert list(lines(figure, 0)[-1].get_xdata()) == [3, 4]


def test_the_same_input_gives_the_same_png() -> None:
    assert render_trend_png("scalp", scalp_views()) == render_trend_png("scalp", scalp_views())
