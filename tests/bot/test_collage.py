"""The album picture: numbered tiles of the annotated photos, one JPEG."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bot.collage import BADGE, CANVAS_WIDTH, EMPTY_TILE, GAP, album_picture, grid_shape


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG", quality=95)
    return out.getvalue()


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (2, (2, 1)), (3, (2, 2)), (4, (2, 2)),
                                          (5, (3, 2)), (10, (3, 4))])
def test_grid_shape(n: int, shape: tuple[int, int]) -> None:
    assert grid_shape(n) == shape


def test_grid_needs_a_photo() -> None:
    with pytest.raises(ValueError):
        grid_shape(0)


def test_tiles_keep_their_order_number_and_colour() -> None:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    data = album_picture([jpeg(colours[0]), None, jpeg(colours[2], (300, 900))])
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert image.shape[1] == CANVAS_WIDTH and data[:3] == b"\xff\xd8\xff"
    tile = (CANVAS_WIDTH - 3 * GAP) // 2
    centres = [(GAP + tile // 2, GAP + tile // 2), (2 * GAP + tile + tile // 2, GAP + tile // 2),
               (GAP + tile // 2, 2 * GAP + tile + tile // 2)]
    for (x, y), expected in zip(centres, [colours[0], EMPTY_TILE, colours[2]], strict=True):
        assert np.abs(image[y, x] - np.array(expected)).max() < 12, (x, y, image[y, x])
    # each tile's number badge, in the answer's box colour, in its top-left corner
    for x, y in ((GAP + 4, GAP + 4), (2 * GAP + tile + 4, GAP + 4), (GAP + 4, 2 * GAP + tile + 4)):
        assert np.abs(image[y, x] - np.array(BADGE)).max() < 30


def test_a_picture_that_does_not_decode_leaves_its_tile_empty() -> None:
    data = album_picture([b"\xff\xd8\xffnot really a jpeg", jpeg((10, 10, 10))])
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    tile = (CANVAS_WIDTH - 3 * GAP) // 2
    assert np.abs(image[GAP + tile // 2, GAP + tile // 2] - np.array(EMPTY_TILE)).max() < 12
