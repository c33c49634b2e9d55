"""Known background: pixels that are not part of the photographed person, whatever a
network says of them.

* transparent pixels (alpha under ``OPAQUE``): decode composites them on white, and white
  reads as bare skin to a segmenter;
* flat, non-photo areas: regions of at least ``FLAT_MIN_AREA`` of the image whose local
  grey-level spread stays under ``FLAT_STD`` and which are not dark (a filled rectangle, a
  screenshot's panel, a composited margin, a blurred wall). A camera does not record lit skin
  or hair that flat: sensor noise and JPEG keep their local spread above it; dark areas are
  left alone, as clipped black hair can be as flat (``tests/inference/pipeline/test_background.py``
  measures it on the scalp photos' head regions).

Example:
    >>> import numpy as np
    >>> rgb = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    >>> rgb[:, 100:] = 255                      # a flat white half
    >>> m = known_background(rgb)
    >>> bool(m[:, 120:].all()), bool(m[:, :80].any())
    (True, False)
"""
from __future__ import annotations

import cv2
import numpy as np

OPAQUE = 128  # alpha at or above this is the photo
# the flatness is judged on every n-th pixel (n keeps the long side at most WORK_SIDE): picked,
# not averaged, so the sensor's and JPEG's noise stays in what is measured
WORK_SIDE = 512
FLAT_WINDOW = 5  # px (at WORK_SIDE): the neighbourhood of the local spread
# grey levels: local standard deviation under this is flat. A digital fill is flat to 0; the
# smoothest skin in the shared photos (a phone-denoised forehead) spreads 0.65 (2026-12-07)
FLAT_STD = 0.3
FLAT_MIN_AREA = 0.01  # share of the image a flat region must cover to count
# darker than this, a flat area may be black hair or a shadow whose blacks the camera clipped
FLAT_MIN_LEVEL = 48


def flat_areas(rgb: np.ndarray) -> np.ndarray:
    """Boolean H x W mask of the large flat regions (see the module docstring)."""
    h, w = rgb.shape[:2]
    step = max(1, -(-max(h, w) // WORK_SIDE))
    g = cv2.cvtColor(np.ascontiguousarray(rgb[::step, ::step]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    k = (FLAT_WINDOW, FLAT_WINDOW)
    mean = cv2.boxFilter(g, -1, k, borderType=cv2.BORDER_REFLECT)
    var = cv2.boxFilter(g * g, -1, k, borderType=cv2.BORDER_REFLECT) - mean * mean
    flat = ((var < FLAT_STD**2) & (mean >= FLAT_MIN_LEVEL)).astype(np.uint8)
    n, cc, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= FLAT_MIN_AREA * flat.size
    mask = keep[cc].astype(np.uint8)
    if mask.shape != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


def known_background(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Boolean H x W mask: transparent or flat pixels."""
    mask = flat_areas(rgb)
    if alpha is not None:
        mask |= alpha < OPAQUE
    return mask
