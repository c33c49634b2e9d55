"""Segment: the lesion U-Net's pixels inside the counted lesions' boxes."""
from __future__ import annotations

import numpy as np

from inference.types import Segmentation

LESION_PIXEL_PROB = 0.3  # U-Net lesion probability that marks a pixel, inside a counted lesion's box
REGION_MARGIN = 24  # px around the counted lesions' boxes: the region the U-Net sees
REGION_UNET_SIZE = 320  # the U-Net's input side for that region (the whole photo: the config's 512)


def lesion_region(shape: tuple[int, ...], lesions) -> tuple[int, int, int, int] | None:
    """The square window (x1, y1, x2, y2) around all counted lesions, ``REGION_MARGIN`` wider,
    inside the photo; None without lesions. Square, so the U-Net sees it unstretched."""
    if not lesions:
        return None
    h, w = shape[:2]
    x1 = min(d.box.x1 for d in lesions) - REGION_MARGIN
    y1 = min(d.box.y1 for d in lesions) - REGION_MARGIN
    x2 = max(d.box.x2 for d in lesions) + REGION_MARGIN
    y2 = max(d.box.y2 for d in lesions) + REGION_MARGIN
    side = min(max(x2 - x1, y2 - y1, 32), w, h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    return left, top, left + int(side), top + int(side)


def lesion_segmentation(lesion_prob: np.ndarray, lesions, classes: tuple[str, ...], li: int) -> Segmentation:
    """Lesion pixels: the U-Net's lesion probability at or above ``LESION_PIXEL_PROB``
    inside the boxes of the counted lesions (the U-Net on the detected regions).

    The shipped lesion U-Net never puts a pixel's lesion probability above 0.5 (lesions are
    1-2% of the pixels it learnt from), so an argmax would mark nothing. 0.3 inside a box
    matched the drawn-ellipse masks best on calibration-fold photos (IoU 0.46 on 40 of
    them: model card, "The lesion U-Net is weak"); lower thresholds fill whole boxes,
    which says nothing the box does not. Per lesion box the
    pixel counts go to ``region_pixels``.
    """
    h, w = lesion_prob.shape[:2]
    labels = np.zeros((h, w), np.uint8)
    counts = []
    for d in lesions:
        x1, y1, x2, y2 = d.box.clip(w, h).as_int()
        win = lesion_prob[y1:y2, x1:x2] >= LESION_PIXEL_PROB
        labels[y1:y2, x1:x2][win] = li
        counts.append({classes[li]: int(win.sum())})
    return Segmentation(labels, classes, tuple(counts))


def lesion_index(classes: tuple[str, ...]) -> int:
    """The U-Net's lesion class (its last class where none is named "lesion")."""
    return classes.index("lesion") if "lesion" in classes else len(classes) - 1
