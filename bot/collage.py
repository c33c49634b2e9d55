"""An album's answer picture: the annotated photos of one media group, numbered, in one JPEG.

One picture instead of one per photo keeps an album's answer to one message (the numbers
match the caption's list). Pillow only (matplotlib's dependency, so nothing new); pure:
bytes in, bytes out::

    jpeg = album_picture([annotated_1, None, annotated_3])  # None: a photo with no picture
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .chart import korean_font_path

__all__ = ["CANVAS_WIDTH", "album_picture", "grid_shape"]

#: Width of the picture: a phone shows it about 390 px wide, so 1080 keeps it sharp.
CANVAS_WIDTH = 1080
GAP = 8
BACKGROUND = (28, 28, 32)
EMPTY_TILE = (70, 70, 78)
BADGE = (255, 210, 0)  # the annotated photos' box colour (inference/pipeline/common/draw.py)
#: The tile number is read at a glance on a phone: 64 px of 1080 shows as about 23 px.
BADGE_FONT_PX = 64
JPEG_QUALITY = 85


def grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) for ``n`` tiles: one row up to 2, then 2 columns up to 4, then 3."""
    if n <= 0:
        raise ValueError("an album picture needs at least one photo")
    columns = n if n <= 2 else 2 if n <= 4 else 3
    return columns, math.ceil(n / columns)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(korean_font_path()), size)


def _fitted(data: bytes | None, tile: int) -> Image.Image | None:
    """The picture scaled into a ``tile`` square; None when there is none or it does not
    decode (the tile stays empty: one bad picture never costs the album its answer)."""
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return ImageOps.contain(image.convert("RGB"), (tile, tile))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def album_picture(photos: Sequence[bytes | None]) -> bytes:
    """The photos (JPEG/PNG bytes; None for a photo that has no picture) tiled and numbered."""
    columns, rows = grid_shape(len(photos))
    tile = (CANVAS_WIDTH - GAP * (columns + 1)) // columns
    canvas = Image.new("RGB", (CANVAS_WIDTH, rows * tile + GAP * (rows + 1)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(BADGE_FONT_PX)
    for index, data in enumerate(photos):
        x = GAP + (index % columns) * (tile + GAP)
        y = GAP + (index // columns) * (tile + GAP)
        fitted = _fitted(data, tile)
        if fitted is None:
            draw.rectangle([x, y, x + tile - 1, y + tile - 1], fill=EMPTY_TILE)
        else:
            canvas.paste(fitted, (x + (tile - fitted.width) // 2, y + (tile - fitted.height) // 2))
        label = str(index + 1)
        side = BADGE_FONT_PX + 24
        draw.rectangle([x, y, x + side, y + side], fill=BADGE)
        draw.text((x + side // 2, y + side // 2), label, font=font, fill=(0, 0, 0), anchor="mm")
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
