"""bot/chart.py: the /history trend chart renders Korean labels with the project's one font."""
from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pylopdf_fonts_ko
import pytest

from bot.chart import FONT_FILE, korean_font_path, render_trend_png

T0 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


def results(domain: str) -> list[dict]:
    grades = ["LOW", "MIDDLE", "UNCERTAIN", "HIGH"]
    key, values = (("exposed_scalp_ratio", [0.1, 0.22, 0.3, 0.41]) if domain == "scalp"
                   else ("lesion_count", [2, 7, 5, 14]))
    return [{"created_at": T0 + timedelta(days=30 * i), "grade": g, "measurements": {key: v}}
            for i, (g, v) in enumerate(zip(grades, values))]


def test_the_font_is_noto_sans_kr_from_its_wheel() -> None:
    """The font the service draws its annotated photos with: Noto Sans KR, from its wheel."""
    path = korean_font_path()
    assert path.name == FONT_FILE == pylopdf_fonts_ko.sans_path().name and path.is_file()


@pytest.mark.parametrize("domain", ["scalp", "face"])
def test_png_with_every_korean_glyph(domain: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        png = render_trend_png(domain, results(domain))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_two_points_and_missing_measurements() -> None:
    rows = results("scalp")[:2]
    rows[1] = {**rows[1], "measurements": {}}
    assert render_trend_png("scalp", rows).startswith(b"\x89PNG")
