"""Draw: the annotated photo the bot sends back, and its JPEG for Telegram.

The photo, a translucent overlay of the mask classes, the detected boxes with
their label (no model score: a number on the photo reads as certainty), and a
legend panel underneath with the grade and the key measurement in Korean. The Korean
text is set in Noto Sans KR, shipped by the pip package ``pylopdf-fonts-ko`` (SIL OFL
1.1) and read from the package's own files: no system font, no download at run time.

``annotate`` is pure (array in, array out); ``encode_jpeg`` makes the bytes,
within Telegram's photo limits (``TELEGRAM_*``) and at most ``CHAT_MAX_SIDE`` px
on the long side.

Example:
    >>> import numpy as np
    >>> from inference.types import GradeResult
    >>> a = Annotation("scalp", grade=GradeResult("MIDDLE", 0.71, "MIDDLE"), headline="두피 노출 비율 34%")
    >>> out = annotate(np.full((480, 640, 3), 128, np.uint8), a)
    >>> out.dtype.name, max(out.shape[:2]) <= CHAT_MAX_SIDE
    ('uint8', True)
"""
from __future__ import annotations

import functools
import importlib.resources
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.types import Detection, GradeResult

# Telegram Bot API, sendPhoto: at most 10 MB, width + height at most 10000, ratio at most 20
TELEGRAM_MAX_PHOTO_BYTES = 10 * 1000 * 1000
TELEGRAM_MAX_SIDE_SUM = 10_000
TELEGRAM_MAX_RATIO = 20.0
CHAT_MAX_SIDE = 1280  # long side of the annotated image (what a chat shows)
MIN_PHOTO_SIDE = 720  # smaller photos are enlarged so the legend stays legible
MIN_CANVAS_WIDTH = 480  # narrow photos get side margins so the legend fits
JPEG_QUALITY = 85
MASK_ALPHA = 0.45

FONT_PACKAGE = "pylopdf_fonts_ko"  # pip: pylopdf-fonts-ko (Noto Sans KR, SIL OFL 1.1)
FONT_FILE = "NotoSansKR-Regular.otf"

# the grade names of each check, the same words as the bot's caption and history
# (bot/texts.py GRADE_NAMES and FACE_GRADE_NAMES; a test checks they agree)
GRADE_KO = {"LOW": "정상", "MIDDLE": "진행 중", "HIGH": "심각", "UNCERTAIN": "판단 어려움"}
FACE_GRADE_KO = {"LOW": "트러블 적음", "MIDDLE": "트러블 중간", "HIGH": "트러블 많음", "UNCERTAIN": "판단 어려움"}
GRADE_WORD = "점검 결과"  # the caption's word for the grade, too
BOX_KO = {**GRADE_KO, "acne": "트러블", "lesion": "트러블", "image": "사진 전체"}
# a scalp box's tag: the region, not the detector's own grade class (the grader, which the
# legend shows, does not rest on it: inference/pipeline/scalp/grade.py), so the two never disagree
SCALP_REGION_KO = "두피 영역"

# domain -> mask class -> (Korean label, RGB); classes not listed are not painted
PALETTES: dict[str, dict[str, tuple[str, tuple[int, int, int]]]] = {
    "scalp": {
        "scalp": ("두피 노출", (236, 64, 200)),
        "hair": ("모발", (40, 200, 90)),
        "other_skin": ("얼굴·귀·목 (측정 제외)", (90, 150, 235)),
    },
    "face": {"lesion": ("트러블", (230, 40, 40)), "skin": ("피부", (250, 190, 120))},
}
BOX_COLOR = (255, 210, 0)
PANEL_BG = (28, 28, 32)
PANEL_FG = (245, 245, 245)
PANEL_DIM = (190, 190, 200)
MARGIN_BG = (28, 28, 32)


@dataclass(frozen=True)
class Annotation:
    """What to draw on one photo (coordinates in the photo's pixels)."""

    domain: str
    detections: Sequence[Detection] = ()
    labels: np.ndarray | None = None  # H x W class indices, 0 = nothing
    classes: tuple[str, ...] = ()  # class name of each label index
    grade: GradeResult | None = None
    headline: str | None = None  # the key measurement, in Korean
    extra: tuple[str, ...] = field(default_factory=tuple)  # further legend lines


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Noto Sans KR at ``size`` px, from the font package's files."""
    res = importlib.resources.files(FONT_PACKAGE) / FONT_FILE
    with importlib.resources.as_file(res) as path:
        data = path.read_bytes()
    return ImageFont.truetype(io.BytesIO(data), size)


def scalp_headline(exposed_scalp_ratio: float) -> str:
    return f"두피 노출 비율 {exposed_scalp_ratio * 100:.0f}%"


def face_headline(lesion_count: int) -> str:
    return f"트러블 {lesion_count}개"


def grade_line(g: GradeResult | None, domain: str = "scalp") -> str | None:
    """The grade in Korean, in the check's own words; no probability in the picture (the
    caption gives the confidence in words, ``bot/texts.py``: a raw score on a photo reads as
    certainty)."""
    if g is None:
        return None
    names = FACE_GRADE_KO if domain == "face" else GRADE_KO
    return f"{GRADE_WORD}: {names.get(g.grade, g.grade)}"


def _overlay(photo: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], palette: dict) -> np.ndarray:
    """Each labelled pixel blended with its class colour (``MASK_ALPHA``): colour and mask by
    table lookup, one SIMD blend over the photo, then a masked copy (several times cheaper
    than a float blend and within one grey level of it: CHANGELOG.md, 2026-11-26)."""
    h, w = photo.shape[:2]
    if labels.shape != (h, w):
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    colour = np.zeros((256, 1, 3), np.uint8)
    paint = np.zeros(256, np.uint8)
    for idx, name in enumerate(classes):
        if name in palette and idx < 256:
            colour[idx, 0], paint[idx] = palette[name][1], 255
    mask = cv2.LUT(labels, paint)
    out = np.ascontiguousarray(photo).copy()
    if not cv2.countNonZero(mask):
        return out
    blended = cv2.addWeighted(out, 1 - MASK_ALPHA, cv2.LUT(cv2.merge([labels, labels, labels]), colour), MASK_ALPHA, 0)
    cv2.copyTo(blended, mask, out)
    return out


def _layout_photo_size(w: int, h: int, panel_h) -> tuple[int, int]:
    """Display size of the photo so that photo + panel fit ``CHAT_MAX_SIDE``."""
    s = min(1.0, CHAT_MAX_SIDE / max(w, h))
    if max(w, h) * s < MIN_PHOTO_SIDE:
        s = MIN_PHOTO_SIDE / max(w, h)
    for _ in range(4):
        pw, ph = max(1, round(w * s)), max(1, round(h * s))
        cw = min(CHAT_MAX_SIDE, max(pw, MIN_CANVAS_WIDTH))
        total = ph + panel_h(cw)
        if total <= CHAT_MAX_SIDE:
            return pw, ph
        s *= (CHAT_MAX_SIDE - panel_h(cw)) / ph
    return max(1, math.floor(w * s)), max(1, math.floor(h * s))


class _Legend:
    def __init__(self, a: Annotation, width: int):
        self.a = a
        self.width = width
        self.size = max(16, min(34, width // 28))
        self.big, self.small = font(round(self.size * 1.2)), font(self.size)
        self.pad = self.size // 2 + 4
        lines = [grade_line(a.grade, a.domain), a.headline, *a.extra]
        self.lines = [(t, self.big if i == 0 and a.grade is not None else self.small) for i, t in enumerate(lines) if t]
        palette = PALETTES.get(a.domain, {})
        self.keys = [(label, color, False) for name, (label, color) in palette.items() if name in a.classes]
        if a.detections:
            self.keys.append(("검출 영역", BOX_COLOR, True))
        self.key_rows = self._flow()

    def _key_width(self, label: str) -> int:
        return self.size + 6 + int(self.small.getlength(label)) + self.size

    def _flow(self) -> list[list[tuple[str, tuple, bool]]]:
        rows, row, x = [], [], 0
        for k in self.keys:
            kw = self._key_width(k[0])
            if row and x + kw > self.width - 2 * self.pad:
                rows.append(row)
                row, x = [], 0
            row.append(k)
            x += kw
        if row:
            rows.append(row)
        return rows

    def line_height(self, f: ImageFont.FreeTypeFont) -> int:
        return round(f.size * 1.45)

    @property
    def height(self) -> int:
        h = 2 * self.pad + sum(self.line_height(f) for _, f in self.lines)
        return h + len(self.key_rows) * self.line_height(self.small)

    def draw(self, d: ImageDraw.ImageDraw, top: int) -> None:
        y = top + self.pad
        for text, f in self.lines:
            d.text((self.pad, y), text, font=f, fill=PANEL_FG)
            y += self.line_height(f)
        lh = self.line_height(self.small)
        for row in self.key_rows:
            x = self.pad
            for label, color, hollow in row:
                sq = self.size
                y0 = y + (lh - sq) // 2
                if hollow:
                    d.rectangle([x, y0, x + sq, y0 + sq], outline=color, width=max(2, sq // 7))
                else:
                    d.rectangle([x, y0, x + sq, y0 + sq], fill=color)
                ty = y + (lh - self.small.size) // 2 - self.small.size // 8
                d.text((x + sq + 6, ty), label, font=self.small, fill=PANEL_DIM)
                x += self._key_width(label)
            y += lh


MAX_BOX_LABELS = 3  # more boxes than this (lesions) are drawn without their tags: the legend names them


def box_tag(domain: str, det: Detection) -> str:
    """The text on a box: what it is (a lesion, the scalp region, the whole photo)."""
    return SCALP_REGION_KO if domain == "scalp" and det.label in GRADE_KO else BOX_KO.get(det.label, det.label)


def _draw_boxes(d: ImageDraw.ImageDraw, dets: Sequence[Detection], s: float, ox: int, width: int, domain: str) -> None:
    lw = max(2, width // 320)
    f = font(max(14, min(28, width // 40)))
    tagged = len(dets) <= MAX_BOX_LABELS
    for det in dets:
        x1, y1, x2, y2 = (det.box.x1 * s + ox, det.box.y1 * s, det.box.x2 * s + ox, det.box.y2 * s)
        d.rectangle([x1, y1, x2, y2], outline=BOX_COLOR, width=lw)
        if not tagged:
            continue
        text = box_tag(domain, det)
        tw, th = int(f.getlength(text)), f.size
        ty = y1 - th - 8 if y1 - th - 8 >= 0 else y1 + lw
        d.rectangle([x1, ty, x1 + tw + 8, ty + th + 8], fill=BOX_COLOR)
        d.text((x1 + 4, ty + 2), text, font=f, fill=(0, 0, 0))


def annotate(rgb: np.ndarray, a: Annotation) -> np.ndarray:
    """The annotated image: overlay, boxes, legend; long side at most ``CHAT_MAX_SIDE``."""
    h, w = rgb.shape[:2]
    pw, ph = _layout_photo_size(w, h, lambda cw: _Legend(a, cw).height)
    photo = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA if pw < w else cv2.INTER_LINEAR)
    if a.labels is not None and a.classes:
        photo = _overlay(photo, a.labels, a.classes, PALETTES.get(a.domain, {}))
    cw = min(CHAT_MAX_SIDE, max(pw, MIN_CANVAS_WIDTH))
    legend = _Legend(a, cw)
    canvas = Image.new("RGB", (cw, ph + legend.height), MARGIN_BG)
    ox = (cw - pw) // 2
    canvas.paste(Image.fromarray(photo), (ox, 0))
    d = ImageDraw.Draw(canvas)
    _draw_boxes(d, a.detections, pw / w, ox, cw, a.domain)
    d.rectangle([0, ph, cw, ph + legend.height], fill=PANEL_BG)
    legend.draw(d, ph)
    return fit_telegram(np.asarray(canvas))


def fit_telegram(rgb: np.ndarray) -> np.ndarray:
    """Shrink to ``CHAT_MAX_SIDE`` and pad to ``TELEGRAM_MAX_RATIO`` where needed."""
    h, w = rgb.shape[:2]
    if max(h, w) > CHAT_MAX_SIDE:
        s = CHAT_MAX_SIDE / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
    if max(h, w) / min(h, w) > TELEGRAM_MAX_RATIO:
        short = math.ceil(max(h, w) / TELEGRAM_MAX_RATIO)
        ph, pw = (short - h if h < w else 0), (short - w if w <= h else 0)
        rgb = cv2.copyMakeBorder(rgb, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_CONSTANT,
                                 value=MARGIN_BG)
    return np.ascontiguousarray(rgb)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes within Telegram's photo limits."""
    rgb = fit_telegram(rgb)
    h, w = rgb.shape[:2]
    assert w + h <= TELEGRAM_MAX_SIDE_SUM and max(w, h) / min(w, h) <= TELEGRAM_MAX_RATIO
    im = Image.fromarray(rgb)
    while True:
        buf = io.BytesIO()
        # no Huffman optimisation: a little larger, much faster to write (2.6% and 2.8x for a
        # 1280 px photo on the 2-core CPU, measured 2026-12-07), and Telegram re-encodes anyway
        im.save(buf, "JPEG", quality=quality)
        if buf.tell() <= TELEGRAM_MAX_PHOTO_BYTES or quality <= 30:
            return buf.getvalue()
        quality -= 15


def render_jpeg(rgb: np.ndarray, a: Annotation) -> bytes:
    return encode_jpeg(annotate(rgb, a))
