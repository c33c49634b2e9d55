"""The framing guide picture for /start and /help: how to frame a crown, hairline and face photo.

Three panels stacked vertically, each a flat-colour schematic drawing (ellipses, arcs,
polygons, a phone and an arrow to where the camera is) beside a short title and one
instruction, drawn here with Pillow, so there is no image file and nothing to download::

    await message.reply_photo(guide.guide_png(), caption=...)

The Korean texts come from ``messages/guide_label.txt.j2`` (through ``bot.texts``); the
font is Noto Sans KR, the one the trend chart uses (:func:`bot.chart.korean_font_path`).
Everything is drawn at :data:`SUPERSAMPLE` times the size and scaled down (smooth edges),
then stored as a palette PNG: flat colours keep it small. The bytes are the same on every
call (and cached): no randomness, no timestamps.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from . import texts
from .chart import korean_font_path

__all__ = [
    "BODY_FONT_PX",
    "FONT_SIZES",
    "LABELS",
    "MAX_ASPECT",
    "MAX_PNG_BYTES",
    "MIN_FONT_PX",
    "MIN_TEXT_PX",
    "NOTE_FONT_PX",
    "PANELS",
    "PANEL_TITLE_FONT_PX",
    "PHONE_WIDTH_PX",
    "TITLE_FONT_PX",
    "WIDTH_PX",
    "guide_png",
    "label",
    "panel_boxes",
]

# --------------------------------------------------------------------------- size and text

#: Telegram shows a photo about 390 CSS px wide on a phone, whatever its pixel width.
PHONE_WIDTH_PX = 390
#: The smallest text that still reads there, in CSS px at PHONE_WIDTH_PX.
MIN_TEXT_PX = 12
#: Full HD width: sharp on a phone's 2.5-3x screen, still a small file.
WIDTH_PX = 1080
#: Smallest font size in picture px: MIN_TEXT_PX once scaled down to PHONE_WIDTH_PX (34 px).
MIN_FONT_PX = math.ceil(MIN_TEXT_PX * WIDTH_PX / PHONE_WIDTH_PX)
#: Height / width at most: taller pictures get cropped or shrunk in the chat preview. The
#: panels are stacked (not side by side): in one row a 360 px panel holds only ~10 Korean
#: characters per line at MIN_FONT_PX.
MAX_ASPECT = 1.6
#: The PNG stays well under Telegram's photo limits and quick to send.
MAX_PNG_BYTES = 300_000

TITLE_FONT_PX = 58
PANEL_TITLE_FONT_PX = 52
BODY_FONT_PX = 38
#: Subtitle and footer.
NOTE_FONT_PX = 36
#: Every font size used, for the MIN_FONT_PX rule.
FONT_SIZES = (TITLE_FONT_PX, PANEL_TITLE_FONT_PX, BODY_FONT_PX, NOTE_FONT_PX)

#: The panels, top to bottom; each has the labels ``<panel>_title`` and ``<panel>_hint``.
PANELS = ("crown", "hairline", "face")
#: Every label of ``messages/guide_label.txt.j2``.
LABELS = ("title", "subtitle", *(f"{p}_{part}" for p in PANELS for part in ("title", "hint")), "footer")

#: Drawing scale: shapes and text are drawn this many times larger, then scaled down.
SUPERSAMPLE = 3
#: Palette size of the PNG: the flat colours plus their smoothed edges.
PALETTE_COLORS = 96

MARGIN = 40
PANEL_HEIGHT = 440
PANEL_GAP = 24
PANEL_PAD = 20
#: The drawing of each panel is a square of this side.
ART = PANEL_HEIGHT - 2 * PANEL_PAD
TEXT_GAP = 34
LINE_SPACING = 1.42
MAX_HINT_LINES = 4
MAX_NOTE_LINES = 2
BADGE = 50

# --------------------------------------------------------------------------- colours (flat)

BACKGROUND = "#f4f7fb"
CARD = "#ffffff"
CARD_EDGE = "#d5deea"
INK = "#1d2633"
INK_SOFT = "#3c4757"
ACCENT = "#2563c9"
OK_GREEN = "#1f9d55"
SKIN = "#f3cba9"
SKIN_SHADE = "#e2ad86"
SCALP = "#f8dcc6"
HAIR = "#4a3225"
HAIR_LIGHT = "#7a5641"
SHIRT = "#8fb2de"
LIP = "#c9746a"
EYE = "#2b2730"
PHONE_BODY = "#2e3a4b"
PHONE_SCREEN = "#dbe9fa"
BAND = "#ee7b6a"
NO_RED = "#d64545"
TINTS = {"crown": "#e3eefb", "hairline": "#fcebdd", "face": "#e2f3e6"}

Point = tuple[float, float]


def label(name: str) -> str:
    """One Korean label of the picture, from ``messages/guide_label.txt.j2``."""
    return texts.render("guide_label", label=name)


# --------------------------------------------------------------------------- drawing helpers


def _s(value: float) -> float:
    return value * SUPERSAMPLE


@lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(korean_font_path()), px * SUPERSAMPLE)


def _text_width(text: str, px: int) -> float:
    return _font(px).getlength(text) / SUPERSAMPLE


def _wrap(text: str, px: int, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap (Korean breaks between words too); raises if it does not fit."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(f"{lines[-1]} {word}", px) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines or any(_text_width(line, px) > width for line in lines):
        raise ValueError(f"{text!r} does not fit in {max_lines} lines of {width:.0f} px at {px} px")
    return lines


def _bezier(p0: Point, p1: Point, p2: Point, steps: int = 24) -> list[Point]:
    """Points of the quadratic Bezier curve p0 -> p2 pulled towards p1."""
    out = []
    for i in range(steps + 1):
        t = i / steps
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
        out.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]))
    return out


class _Pen:
    """Draws on a (supersampled) image in picture px, relative to ``origin``."""

    def __init__(self, image: Image.Image, origin: Point = (0.0, 0.0)) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.ox, self.oy = origin

    def _xy(self, x: float, y: float) -> tuple[float, float]:
        return _s(x - self.ox), _s(y - self.oy)

    def _box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (*self._xy(x0, y0), *self._xy(x1, y1))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: str | None = None,
                outline: str | None = None, width: float = 0) -> None:
        self.draw.ellipse(self._box(cx - rx, cy - ry, cx + rx, cy + ry), fill=fill, outline=outline,
                          width=round(_s(width)))

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str | None = None, radius: float = 0,
             outline: str | None = None, width: float = 0) -> None:
        self.draw.rounded_rectangle(self._box(x0, y0, x1, y1), radius=round(_s(radius)), fill=fill,
                                    outline=outline, width=round(_s(width)))

    def polygon(self, points: Sequence[Point], fill: str) -> None:
        self.draw.polygon([self._xy(x, y) for x, y in points], fill=fill)

    def stroke(self, points: Sequence[Point], fill: str, width: float) -> None:
        """A polyline with round joints and ends."""
        self.draw.line([self._xy(x, y) for x, y in points], fill=fill, width=round(_s(width)), joint="curve")
        for x, y in (points[0], points[-1]):
            self.ellipse(x, y, width / 2, width / 2, fill=fill)

    def arc(self, cx: float, cy: float, rx: float, ry: float, start: float, end: float, fill: str,
            width: float) -> None:
        """The part of an ellipse from ``start`` to ``end`` degrees (clockwise from 3 o'clock)."""
        points = [
            (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in (start + (end - start) * i / 32 for i in range(33))
        ]
        self.stroke(points, fill, width)

    def arrow(self, start: Point, end: Point, fill: str, width: float = 8, head: float = 26) -> None:
        length = math.dist(start, end)
        ux, uy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
        base = (end[0] - ux * head * 0.8, end[1] - uy * head * 0.8)
        self.stroke([start, base], fill, width)
        half = head * 0.62
        self.polygon([end, (end[0] - ux * head - uy * half, end[1] - uy * head + ux * half),
                      (end[0] - ux * head + uy * half, end[1] - uy * head - ux * half)], fill)

    def brackets(self, x0: float, y0: float, x1: float, y1: float, fill: str = ACCENT, arm: float = 30,
                 width: float = 7) -> None:
        """Viewfinder corners: what the photo should hold."""
        for cx, cy, dx, dy in ((x0, y0, 1, 1), (x1, y0, -1, 1), (x0, y1, 1, -1), (x1, y1, -1, -1)):
            self.stroke([(cx + dx * arm, cy), (cx, cy), (cx, cy + dy * arm)], fill, width)

    def phone(self, cx: float, cy: float, w: float, h: float) -> None:
        """A phone seen from its back: body, camera lens near the top."""
        self.rect(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, fill=PHONE_BODY, radius=w * 0.22)
        self.ellipse(cx, cy - h / 2 + w * 0.36, w * 0.2, w * 0.2, fill="#111821", outline="#8aa4c8",
                     width=3)

    def check(self, cx: float, cy: float, r: float) -> None:
        """A white check mark in a green disc."""
        self.ellipse(cx, cy, r, r, fill=OK_GREEN)
        self.stroke([(cx - r * 0.45, cy + r * 0.02), (cx - r * 0.12, cy + r * 0.34), (cx + r * 0.48, cy - r * 0.32)],
                    "#ffffff", r * 0.2)

    def text(self, x: float, y: float, text: str, px: int, fill: str, bold: bool = False) -> None:
        """``text`` with its top-left (ascender line) at ``(x, y)``; bold by a thin outline."""
        stroke = max(1, round(px * SUPERSAMPLE / 48)) if bold else 0
        self.draw.text(self._xy(x, y), text, font=_font(px), fill=fill, anchor="la", stroke_width=stroke,
                       stroke_fill=fill)


def _clipped(pen_draw: Callable[[_Pen], None], size: Point, background: str,
             origin: Point = (0.0, 0.0)) -> Image.Image:
    """A separate image (supersampled) of ``size`` at ``origin`` drawn by ``pen_draw``: clips the shapes."""
    image = Image.new("RGB", (round(_s(size[0])), round(_s(size[1]))), background)
    pen_draw(_Pen(image, origin))
    return image


def _paste_rounded(canvas: Image.Image, tile: Image.Image, x: float, y: float, radius: float) -> None:
    mask = Image.new("L", tile.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, tile.width - 1, tile.height - 1), radius=round(_s(radius)),
                                           fill=255)
    canvas.paste(tile, (round(_s(x)), round(_s(y))), mask)


# --------------------------------------------------------------------------- the three drawings (ART x ART)


def _face_features(pen: _Pen, cx: float, eye_y: float, spread: float, scale: float = 1.0) -> None:
    """Brows, eyes, nose and mouth of a calm face without make-up."""
    for side in (-1, 1):
        ex = cx + side * spread
        pen.arc(ex, eye_y - 14 * scale, 17 * scale, 9 * scale, 200, 340, HAIR, 5 * scale)
        pen.ellipse(ex, eye_y + 2 * scale, 6.5 * scale, 8.5 * scale, fill=EYE)
    pen.stroke([(cx + 2 * scale, eye_y + 14 * scale), (cx - 5 * scale, eye_y + 36 * scale),
                (cx + 5 * scale, eye_y + 38 * scale)], SKIN_SHADE, 4.5 * scale)
    pen.arc(cx, eye_y + 50 * scale, 19 * scale, 10 * scale, 25, 155, LIP, 5.5 * scale)


def _draw_crown(pen: _Pen) -> None:
    """The head from above (nose at the bottom), a parting to the crown, the phone above it."""
    cx, cy = 200.0, 262.0
    pen.ellipse(cx, cy + 52, 182, 86, fill=SHIRT)  # shoulders
    for side in (-1, 1):
        pen.ellipse(cx + side * 100, cy + 8, 15, 27, fill=SKIN_SHADE)  # ears
    pen.ellipse(cx, cy + 112, 17, 15, fill=SKIN_SHADE)  # the tip of the nose
    pen.ellipse(cx, cy, 100, 110, fill=SKIN)  # head, the forehead showing at the front
    pen.ellipse(cx, cy - 9, 100, 101, fill=HAIR)
    for side in (-1, 1):  # hair combed away from the parting
        for k in range(4):
            y0 = cy - 70 + k * 42
            pen.stroke(_bezier((cx + side * 9, y0), (cx + side * 55, y0 - 16), (cx + side * 86, y0 + 30 - 3 * k)),
                       HAIR_LIGHT, 4)
    pen.stroke([(cx, cy + 84), (cx, cy - 52)], SCALP, 10)  # the parting, scalp showing
    pen.ellipse(cx, cy - 56, 19, 16, fill=SCALP)  # the crown
    spiral = [(cx + (2 + 11 * t) * math.cos(t * 3 * math.pi), cy - 56 + (2 + 9 * t) * math.sin(t * 3 * math.pi))
              for t in (i / 40 for i in range(41))]
    pen.stroke(spiral, HAIR_LIGHT, 3)  # the whorl
    pen.brackets(cx - 82, cy - 98, cx + 82, cy + 70)
    pen.phone(cx, 62, 52, 92)
    pen.arrow((cx, 112), (cx, cy - 106), ACCENT, width=8, head=24)


def _hairline_y(x: float, cx: float, half: float) -> float:
    """The hairline: an arch, highest in the middle of the forehead."""
    t = min(1.0, abs(x - cx) / half)
    return 190 - 44 * math.cos(t * math.pi / 2) ** 0.8


def _draw_hairline(pen: _Pen) -> None:
    """A face from the front, the fringe pushed back under a band, the phone at forehead height."""
    cx = 160.0
    pen.ellipse(cx, 440, 152, 84, fill=SHIRT)  # shoulders
    pen.rect(cx - 26, 290, cx + 26, 380, fill=SKIN_SHADE)  # neck
    pen.ellipse(cx, 196, 92, 100, fill=HAIR)  # hair behind the head
    for side in (-1, 1):
        pen.ellipse(cx + side * 80, 236, 14, 24, fill=SKIN_SHADE)  # ears
    pen.ellipse(cx, 226, 80, 100, fill=SKIN)  # face
    # the hair on top, down to the hairline
    top = [(cx + 86 * math.cos(math.radians(a)), 200 + 104 * math.sin(math.radians(a))) for a in range(180, 361, 6)]
    half = 80.0
    edge = [(x, _hairline_y(x, cx, half)) for x in (cx + half - 160 * i / 40 for i in range(41))]
    pen.polygon([*top, *edge], HAIR)
    for x in (cx - 56, cx - 28, cx, cx + 28, cx + 56):  # combed back
        y = _hairline_y(x, cx, half)
        pen.stroke(_bezier((x, y - 6), (x * 0.9 + cx * 0.1, y - 40), (x * 0.7 + cx * 0.3, 104)), HAIR_LIGHT, 4)
    pen.arc(cx, 196, 84, 70, 203, 337, BAND, 14)  # a hair band holds the fringe back
    _face_features(pen, cx, 240, 30)
    forehead = 178.0
    pen.brackets(cx - 88, 112, cx + 88, 226)
    pen.arrow((320, forehead), (cx + 94, forehead), ACCENT, width=8, head=24)
    pen.phone(350, forehead, 50, 90)


def _draw_face(pen: _Pen) -> None:
    """A phone up close, the face filling its screen; lipstick crossed out: no make-up."""
    x0, y0, x1, y1 = 104.0, 16.0, 296.0, 384.0
    pen.rect(x0, y0, x1, y1, fill=PHONE_BODY, radius=34)
    sx0, sy0, sx1, sy1 = x0 + 10, y0 + 10, x1 - 10, y1 - 10

    def screen(inner: _Pen) -> None:
        cx = (sx0 + sx1) / 2
        inner.ellipse(cx, 420, 120, 70, fill=SHIRT)
        inner.rect(cx - 30, 300, cx + 30, 380, fill=SKIN_SHADE)  # neck
        inner.ellipse(cx, 178, 88, 114, fill=HAIR)
        for side in (-1, 1):
            inner.ellipse(cx + side * 80, 214, 13, 24, fill=SKIN_SHADE)
        inner.ellipse(cx, 210, 78, 110, fill=SKIN)
        # the top of the hair, a fringe swept to one side
        top = [(cx + 88 * math.cos(math.radians(a)), 178 + 114 * math.sin(math.radians(a))) for a in range(180, 361, 6)]
        fringe = _bezier((cx + 88, 178), (cx + 58, 104), (cx - 8, 116)) + _bezier(
            (cx - 8, 116), (cx - 62, 126), (cx - 86, 196))
        inner.polygon([*top, *fringe], HAIR)
        _face_features(inner, cx, 200, 31, 1.05)

    tile = _clipped(screen, (sx1 - sx0, sy1 - sy0), PHONE_SCREEN, (sx0, sy0))
    _paste_rounded(pen.image, tile, sx0 - pen.ox, sy0 - pen.oy, 24)
    pen.ellipse((x0 + x1) / 2, y0 + 24, 7, 7, fill="#111821")  # front camera
    pen.brackets(sx0 + 12, sy0 + 34, sx1 - 12, sy1 - 12, arm=26, width=6)
    # no make-up: a lipstick, crossed out
    lx, ly, r = 350.0, 316.0, 42.0
    pen.ellipse(lx, ly, r, r, fill="#ffffff")
    pen.rect(lx - 13, ly + 2, lx + 13, ly + 30, fill="#8a94a6", radius=3)  # the case
    pen.rect(lx - 10, ly - 4, lx + 10, ly + 4, fill="#c9a227")  # the gold ring
    pen.polygon([(lx - 9, ly - 4), (lx - 9, ly - 22), (lx + 9, ly - 32), (lx + 9, ly - 4)], "#e0607a")  # the colour
    pen.ellipse(lx, ly, r, r, outline=NO_RED, width=6)
    pen.stroke([(lx - r * 0.7, ly - r * 0.7), (lx + r * 0.7, ly + r * 0.7)], NO_RED, 6)


DRAWINGS: dict[str, Callable[[_Pen], None]] = {"crown": _draw_crown, "hairline": _draw_hairline, "face": _draw_face}


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class _Layout:
    title_y: float
    subtitle: list[str]
    subtitle_y: float
    panels: tuple[tuple[int, int, int, int], ...]
    hints: tuple[list[str], ...]
    footer: list[str]
    footer_y: float
    height: int


def _line(px: int) -> float:
    return px * LINE_SPACING


@lru_cache(maxsize=1)
def _layout() -> _Layout:
    inner = WIDTH_PX - 2 * MARGIN
    text_width = inner - PANEL_PAD - ART - TEXT_GAP - PANEL_PAD
    title_y = MARGIN
    subtitle = _wrap(label("subtitle"), NOTE_FONT_PX, inner, MAX_NOTE_LINES)
    subtitle_y = title_y + _line(TITLE_FONT_PX)
    y = subtitle_y + len(subtitle) * _line(NOTE_FONT_PX) + 14
    panels = []
    for _ in PANELS:
        panels.append((MARGIN, round(y), WIDTH_PX - MARGIN, round(y + PANEL_HEIGHT)))
        y += PANEL_HEIGHT + PANEL_GAP
    hints = tuple(_wrap(label(f"{p}_hint"), BODY_FONT_PX, text_width, MAX_HINT_LINES) for p in PANELS)
    footer = _wrap(label("footer"), NOTE_FONT_PX, inner, MAX_NOTE_LINES)
    footer_y = y + 4
    height = round(footer_y + len(footer) * _line(NOTE_FONT_PX) + MARGIN - 12)
    return _Layout(title_y, subtitle, subtitle_y, tuple(panels), hints, footer, footer_y, height)


def panel_boxes() -> tuple[tuple[int, int, int, int], ...]:
    """The (left, top, right, bottom) of each panel's card in the picture, in :data:`PANELS` order."""
    return _layout().panels


def _render() -> Image.Image:
    lay = _layout()
    canvas = Image.new("RGB", (round(_s(WIDTH_PX)), round(_s(lay.height))), BACKGROUND)
    pen = _Pen(canvas)
    pen.text(MARGIN, lay.title_y, label("title"), TITLE_FONT_PX, INK, bold=True)
    for i, line in enumerate(lay.subtitle):
        pen.text(MARGIN, lay.subtitle_y + i * _line(NOTE_FONT_PX), line, NOTE_FONT_PX, INK_SOFT)
    for name, box, hint in zip(PANELS, lay.panels, lay.hints):
        left, top, right, bottom = box
        pen.rect(left, top, right, bottom, fill=CARD, radius=28, outline=CARD_EDGE, width=2)
        art_x, art_y = left + PANEL_PAD, top + PANEL_PAD
        _paste_rounded(canvas, _clipped(DRAWINGS[name], (ART, ART), TINTS[name]), art_x, art_y, 22)
        # title with a check mark, then the hint, centred on the card's height
        text_x = art_x + ART + TEXT_GAP
        block = _line(PANEL_TITLE_FONT_PX) + 8 + len(hint) * _line(BODY_FONT_PX)
        y = top + (PANEL_HEIGHT - block) / 2 + 6
        pen.check(text_x + BADGE / 2, y + PANEL_TITLE_FONT_PX * 0.62, BADGE / 2)
        pen.text(text_x + BADGE + 16, y, label(f"{name}_title"), PANEL_TITLE_FONT_PX, INK, bold=True)
        y += _line(PANEL_TITLE_FONT_PX) + 8
        for line in hint:
            pen.text(text_x, y, line, BODY_FONT_PX, INK_SOFT)
            y += _line(BODY_FONT_PX)
    for i, line in enumerate(lay.footer):
        pen.text(MARGIN, lay.footer_y + i * _line(NOTE_FONT_PX), line, NOTE_FONT_PX, INK_SOFT)
    return canvas.reduce(SUPERSAMPLE)


@lru_cache(maxsize=1)
def guide_png() -> bytes:
    """The framing guide picture as PNG bytes (:data:`WIDTH_PX` wide; the same bytes every call)."""
    image = _render().quantize(PALETTE_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
