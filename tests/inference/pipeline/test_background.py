"""Known background: transparent and flat pixels, on synthetic images and real photos."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.pipeline.common.background import known_background
from tests.paths import SHARED

SCALP = sorted((SHARED / "datasets/scalp_uze/valid").glob("*.jpg"))


def test_transparent_and_flat_pixels_are_background():
    rng = np.random.default_rng(0)
    rgb = rng.integers(60, 200, (300, 400, 3), dtype=np.uint8)
    alpha = np.full((300, 400), 255, np.uint8)
    alpha[:, 300:] = 0  # transparent, whatever colour lies under it
    rgb[:100, :100] = 200  # a flat panel
    m = known_background(rgb, alpha)
    assert m[:, 300:].all() and m[10:90, 10:90].all()
    assert not m[150:, :280].any()


def test_dark_flat_areas_are_left_alone():
    """Clipped black hair is as flat as a panel: it is not called background."""
    rgb = np.random.default_rng(1).integers(60, 200, (300, 300, 3), dtype=np.uint8)
    rgb[:150] = 5
    assert not known_background(rgb)[:150].any()


@pytest.mark.skipif(not SCALP, reason="the scalp_uze photos are missing")
def test_heads_in_real_photos_are_never_flat():
    """In the middle of every valid scalp photo (where the head is), at most a trace is flat."""
    shares = []
    for p in SCALP:
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        shares.append(known_background(rgb)[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean())
    assert np.mean(shares) < 0.005 and max(shares) < 0.08
