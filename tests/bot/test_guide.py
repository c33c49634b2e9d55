"""bot/guide.py: the framing guide picture for /start and /help."""
from __future__ import annotations

import io
import itertools
import re

import jinja2
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageColor, ImageFont, ImageStat

from bot import guide, texts
from bot.chart import korean_font_path

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    image = Image.open(io.BytesIO(guide.guide_png()))
    assert image.format == "PNG"
    return image.convert("RGB")


def panel_crops(picture: Image.Image) -> list[Image.Image]:
    return [picture.crop(box) for box in guide.panel_boxes()]


def test_png_of_the_expected_size_under_the_limit(picture: Image.Image) -> None:
    png = guide.guide_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < guide.MAX_PNG_BYTES
    width, height = picture.size
    assert width == guide.WIDTH_PX == 1080
    assert guide.WIDTH_PX < height <= guide.MAX_ASPECT * guide.WIDTH_PX
    # the panels lie inside the picture, top to bottom, without overlapping
    boxes = guide.panel_boxes()
    assert len(boxes) == len(guide.PANELS) == 3
    for (_, _, _, bottom), (_, next_top, _, _) in itertools.pairwise(boxes):
        assert bottom < next_top
    assert all(0 <= left < right <= width and 0 <= top < bottom <= height for left, top, right, bottom in boxes)


def test_same_bytes_every_time() -> None:
    cached = guide.guide_png()
    assert guide.guide_png() is cached
    assert guide.guide_png.__wrapped__() == cached  # a fresh drawing, not only the cache


def test_every_label_renders_one_line_of_korean() -> None:
    source = (texts.MESSAGES_DIR / "guide_label.txt.j2").read_text(encoding="utf-8")
    assert set(re.findall(r'"(\w+)":', source)) == set(guide.LABELS)
    for name in guide.LABELS:
        text = guide.label(name)
        assert text and text == text.strip() and HANGUL.search(text), name
        # the rules of tests/bot/test_texts.py for plain-text templates
        assert "\n" not in text and len(text) <= 64, name
        assert "{" not in text and "None" not in text, name
    with pytest.raises(jinja2.UndefinedError):
        guide.label("no_such_label")


def test_the_font_has_every_glyph_of_the_labels() -> None:
    cmap = TTFont(str(korean_font_path()), fontNumber=0, lazy=True).getBestCmap()
    missing = {ch for name in guide.LABELS for ch in guide.label(name) if not ch.isspace() and ord(ch) not in cmap}
    assert not missing


def test_font_sizes_read_at_12_css_px_on_a_phone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert guide.MIN_FONT_PX * guide.PHONE_WIDTH_PX / guide.WIDTH_PX >= guide.MIN_TEXT_PX == 12
    assert (guide.MIN_FONT_PX - 1) * guide.PHONE_WIDTH_PX / guide.WIDTH_PX < guide.MIN_TEXT_PX
    for px in guide.FONT_SIZES:
        assert px >= guide.MIN_FONT_PX and px * guide.PHONE_WIDTH_PX / guide.WIDTH_PX >= guide.MIN_TEXT_PX
    # and the drawing uses no other size
    used: list[int] = []
    real_font = guide._font

    def recording_font(px: int) -> ImageFont.FreeTypeFont:
        used.append(px)
        return real_font(px)

    monkeypatch.setattr(guide, "_font", recording_font)
    guide._render()
    assert used and set(used) <= set(guide.FONT_SIZES)


def test_a_text_too_long_for_its_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        guide._wrap("가나다라 " * 40, guide.BODY_FONT_PX, 500, guide.MAX_HINT_LINES)


def test_panels_are_drawn_and_differ(picture: Image.Image) -> None:
    crops = panel_crops(picture)
    for name, crop in zip(guide.PANELS, crops):
        stat = ImageStat.Stat(crop)
        assert min(stat.stddev) > 25, f"{name} looks blank"
        assert len(crop.getcolors(maxcolors=1 << 16) or ()) > 30, name
        # its drawing: a square in the panel's own tint, mostly covered by the shapes drawn on it
        art = crop.crop((guide.PANEL_PAD, guide.PANEL_PAD, guide.PANEL_PAD + guide.ART, guide.PANEL_PAD + guide.ART))
        tint = ImageColor.getrgb(guide.TINTS[name])
        tinted = sum(count for count, rgb in art.getcolors(maxcolors=1 << 16) or () if rgb == tint)
        assert 0.1 < tinted / (art.width * art.height) < 0.85, f"{name}: {tinted} px of background"
        assert min(ImageStat.Stat(art).stddev) > 25, f"{name}: drawing looks blank"
        # its text: dark ink right of the drawing
        text_part = crop.crop((guide.PANEL_PAD + guide.ART, 0, crop.width, crop.height)).convert("L")
        dark = sum(text_part.histogram()[:100])
        assert dark > 2000, f"{name} has no text"
    for (a, crop_a), (b, crop_b) in itertools.combinations(zip(guide.PANELS, crops), 2):
        diff = ImageStat.Stat(ImageChops.difference(crop_a, crop_b)).mean
        assert sum(diff) / 3 > 10, f"{a} and {b} look alike"


def test_title_and_footer_are_drawn(picture: Image.Image) -> None:
    first_top = guide.panel_boxes()[0][1]
    last_bottom = guide.panel_boxes()[-1][3]
    for strip in (picture.crop((0, 0, picture.width, first_top)),
                  picture.crop((0, last_bottom, picture.width, picture.height))):
        assert sum(strip.convert("L").histogram()[:100]) > 2000
