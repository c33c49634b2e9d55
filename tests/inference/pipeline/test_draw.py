"""draw: real Hangul glyphs from the packaged font, overlay and boxes, Telegram's photo limits."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inference.pipeline.common import draw
from inference.pipeline.common.draw import (
    CHAT_MAX_SIDE,
    GRADE_KO,
    PALETTES,
    TELEGRAM_MAX_PHOTO_BYTES,
    TELEGRAM_MAX_RATIO,
    TELEGRAM_MAX_SIDE_SUM,
    Annotation,
    annotate,
    encode_jpeg,
    font,
    render_jpeg,
    scalp_headline,
)
from inference.pipeline.scalp.anatomy import HAIR, OTHER_SKIN, SCALP, SCALP_CLASSES
from inference.types import Box, Detection, GradeResult

MISSING = ("\ue000", "\ue001")  # private use: no font has these; both render as the missing-glyph box


def glyph(ch: str, size: int = 48) -> np.ndarray:
    """The character drawn white on black, always at the same place."""
    im = Image.new("L", (2 * size, 2 * size), 0)
    ImageDraw.Draw(im).text((size // 2, size // 4), ch, font=font(size), fill=255)
    return np.asarray(im)


def test_font_comes_from_the_pip_package():
    import pylopdf_fonts_ko

    f = font(20)
    assert f.getname()[0].startswith("Noto Sans")
    assert (pylopdf_fonts_ko.sans_path().name) == draw.FONT_FILE


def test_the_missing_glyph_box_is_recognisable():
    """The check below works: two different unknown codepoints draw the same box."""
    a, b = glyph(MISSING[0]), glyph(MISSING[1])
    assert a.any() and np.array_equal(a, b)


def test_hangul_renders_real_glyphs():
    box = glyph(MISSING[0])
    du, pi = glyph("두"), glyph("피")
    assert du.any() and pi.any()
    assert not np.array_equal(du, pi)
    assert not np.array_equal(du, box) and not np.array_equal(pi, box)


def test_every_korean_character_the_legend_uses_is_in_the_font():
    texts = [
        *GRADE_KO.values(),
        *draw.FACE_GRADE_KO.values(),
        *draw.BOX_KO.values(),
        draw.GRADE_WORD,
        draw.SCALP_REGION_KO,
        "검출 영역",
        scalp_headline(0.34),
        draw.face_headline(12),
    ]
    texts += [label for p in PALETTES.values() for label, _ in p.values()]
    box = glyph(MISSING[0])
    chars = sorted({c for t in texts for c in t if "\uac00" <= c <= "\ud7a3"})
    assert len(chars) > 20
    missing = [c for c in chars if np.array_equal(glyph(c), box) or not glyph(c).any()]
    assert not missing


def annotation(h: int, w: int, grade: str = "MIDDLE") -> Annotation:
    labels = np.zeros((h, w), np.uint8)
    labels[h // 4 : h // 2, w // 4 : 3 * w // 4] = SCALP
    labels[h // 2 : 3 * h // 4, w // 4 : 3 * w // 4] = HAIR
    labels[3 * h // 4 :, w // 4 : 3 * w // 4] = OTHER_SKIN  # a neck below the head
    det = Detection(Box(w / 4, h / 4, 3 * w / 4, 3 * h / 4), 1, "MIDDLE", 0.87, (0.05, 0.87, 0.08))
    g = GradeResult(grade, 0.71, "MIDDLE", {"LOW": 0.1, "MIDDLE": 0.71, "HIGH": 0.19})
    return Annotation("scalp", (det,), labels, SCALP_CLASSES, g, scalp_headline(0.34))


def test_overlay_boxes_and_legend():
    h, w = 480, 640
    photo = np.full((h, w, 3), 128, np.uint8)
    out = annotate(photo, annotation(h, w))
    assert out.dtype == np.uint8 and out.shape[1] == 720  # enlarged to MIN_PHOTO_SIDE
    s = out.shape[1] / w
    ph = round(h * s)
    skin = out[int(3 * h / 8 * s), int(w / 2 * s)].astype(int)
    hair = out[int(5 * h / 8 * s), int(w / 2 * s)].astype(int)
    neck = out[int(7 * h / 8 * s), int(w / 2 * s)].astype(int)
    plain = out[int(h / 8 * s), int(w / 8 * s)].astype(int)
    assert tuple(plain) == (128, 128, 128)
    assert skin[0] > 150 and skin[2] > 150 and skin[1] < 110  # magenta-ish: the scalp
    assert hair[1] > 150 and hair[0] < 110  # green
    assert neck[2] > 150 and neck[0] < 120  # other skin is blue, never the scalp's pink
    box_edge = out[int(h / 4 * s) + 20, int(w / 4 * s)].astype(int)
    assert box_edge[0] > 200 and box_edge[1] > 180 and box_edge[2] < 60  # the yellow box
    panel = out[ph:]
    assert panel.shape[0] > 60 and len(np.unique(panel.reshape(-1, 3), axis=0)) > 20  # text and swatches


@pytest.mark.parametrize("h,w", [(480, 640), (4000, 3000), (300, 6000), (6000, 300), (256, 256)])
def test_jpeg_fits_telegram(h, w):
    photo = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    data = render_jpeg(photo, annotation(h, w, "UNCERTAIN"))
    assert len(data) <= TELEGRAM_MAX_PHOTO_BYTES
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    W, H = im.size
    assert max(W, H) <= CHAT_MAX_SIDE
    assert W + H <= TELEGRAM_MAX_SIDE_SUM
    assert max(W, H) / min(W, H) <= TELEGRAM_MAX_RATIO


def test_extreme_ratio_is_padded():
    data = encode_jpeg(np.zeros((20, 2000, 3), np.uint8))
    W, H = Image.open(io.BytesIO(data)).size
    assert W <= CHAT_MAX_SIDE and W / H <= TELEGRAM_MAX_RATIO


def test_without_mask_or_grade():
    out = annotate(np.full((400, 400, 3), 90, np.uint8), Annotation("scalp"))
    assert out.shape[0] >= out.shape[1] >= 400


def test_grade_lines():
    assert draw.grade_line(GradeResult("HIGH", 0.8, "HIGH")) == "점검 결과: 심각"  # no raw score
    assert draw.grade_line(GradeResult("HIGH", 0.8, "HIGH"), "face") == "점검 결과: 트러블 많음"
    assert draw.grade_line(GradeResult("UNCERTAIN", 0.4, "LOW")) == "점검 결과: 판단 어려움"
    assert draw.grade_line(None) is None


def test_the_picture_and_the_bot_use_one_vocabulary():
    """The grade names and the word for the grade are the caption's and /history's (bot.texts)."""
    from bot import texts

    assert GRADE_KO == dict(texts.GRADE_NAMES)
    assert draw.FACE_GRADE_KO == dict(texts.FACE_GRADE_NAMES)
    caption = texts.render("result_caption", domain="face", grade="HIGH", confidence=0.9,
                           measurements={"lesion_count": 12})
    assert draw.GRADE_WORD in caption and draw.face_headline(12) in caption


def test_a_scalp_box_is_tagged_as_the_region_not_with_the_detectors_grade():
    """The legend shows the grader's grade; the box says what it is, so the two cannot disagree."""
    det = Detection(Box(0, 0, 10, 10), 2, "HIGH", 0.87, (0.05, 0.08, 0.87))
    assert draw.box_tag("scalp", det) == "두피 영역"  # no raw model score in the picture
    assert draw.box_tag("face", Detection(Box(0, 0, 10, 10), 0, "acne", 0.5)) == "트러블"
    assert draw.box_tag("scalp", Detection(Box(0, 0, 10, 10), -1, "image", 0.0)) == "사진 전체"
