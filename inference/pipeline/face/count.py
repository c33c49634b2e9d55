"""Count: the lesions the grade rests on (the detector's boxes at the operating confidence,
plus what the U-Net adds where the fusion is on) and the face measurements."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from inference.models.yolo import peak_score
from inference.types import Box, Detection

# The U-Net learns an ellipse of this share of each ACNE04 box's sides (the boxes
# are drawn loose: the lesion itself spans about half of the box); a blob it finds
# is grown back by the same factor into a box.
MASK_FILL = 0.5


@dataclass(frozen=True)
class FusionParams:
    """How the U-Net's lesion probabilities add to the detector's boxes.

    ``confirm_prob``: a box scoring between ``CANDIDATE_CONF`` and the operating
    confidence is kept when the mean lesion probability in its centre reaches
    this (above 1: off). ``blob_prob``: U-Net blobs above this probability, of at
    least ``blob_min_area`` px (at 640 x 640) and covered by no kept box, are added
    as lesions (above 1: off). ``enabled``: whether the product uses the fusion.
    """

    enabled: bool = False
    confirm_prob: float = 2.0
    blob_prob: float = 2.0
    blob_min_area: float = 60.0

    @property
    def active(self) -> bool:
        return self.confirm_prob <= 1 or self.blob_prob <= 1


@dataclass(frozen=True)
class FaceMeasurements:
    lesion_count: int  # what the grade rests on (detector boxes at the operating point, + fusion)
    detector_count: int  # detector boxes at the operating point alone
    added_by_unet: int  # boxes the fusion added (0 when it is off)
    lesion_pixel_fraction: float  # U-Net lesion pixels / image pixels
    mean_score: float  # mean detector score of the counted boxes
    level: str  # Hayashi level from the calibrated thresholds
    lesion_density: float = 0.0  # counted lesions per megapixel of the analysed photo

    def as_dict(self) -> dict:
        return {"lesion_count": self.lesion_count, "lesion_density": round(self.lesion_density, 2),
                "lesion_density_unit": "per_megapixel", "detector_count": self.detector_count,
                "added_by_unet": self.added_by_unet, "lesion_pixel_fraction": round(self.lesion_pixel_fraction, 5),
                "mean_score": round(self.mean_score, 4), "level": self.level}


def _centre_mean(prob: np.ndarray, box: Box, frac: float = 0.5) -> float:
    h, w = prob.shape
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    hw, hh = max(1.0, box.width * frac / 2), max(1.0, box.height * frac / 2)
    x1, x2 = int(max(0, cx - hw)), int(min(w, math.ceil(cx + hw)))
    y1, y2 = int(max(0, cy - hh)), int(min(h, math.ceil(cy + hh)))
    win = prob[y1:y2, x1:x2]
    return float(win.mean()) if win.size else 0.0


def fuse(candidates: list[Detection], lesion_prob: np.ndarray | None, conf: float, params: FusionParams,
         label: str = "acne") -> tuple[list[Detection], int]:
    """The detector's boxes at ``conf`` plus what the U-Net adds under ``params``.

    Returns the lesions (best first) and how many the U-Net added. ``lesion_prob``
    is the U-Net's lesion probability at the photo's size (None where ``params`` adds nothing).
    """
    kept = [d for d in candidates if peak_score(d) >= conf]
    base = len(kept)
    if params.active and lesion_prob is None:
        raise ValueError("the fusion needs the U-Net's lesion probabilities")
    if params.confirm_prob <= 1 and lesion_prob is not None:
        for d in candidates:
            if peak_score(d) < conf and _centre_mean(lesion_prob, d.box) >= params.confirm_prob:
                kept.append(d)
    if params.blob_prob <= 1 and lesion_prob is not None:
        h, w = lesion_prob.shape
        min_area = params.blob_min_area * (h * w) / (640.0 * 640.0)
        blobs = (lesion_prob >= params.blob_prob).astype(np.uint8)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
        covered = np.zeros((h, w), bool)
        for d in kept:
            x1, y1, x2, y2 = d.box.clip(w, h).as_int()
            covered[y1:y2, x1:x2] = True
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if area < min_area:
                continue
            comp = lab[y : y + bh, x : x + bw] == i
            if covered[y : y + bh, x : x + bw][comp].mean() > 0.2:
                continue
            # the blob is the ellipse inside a labelled box: grow it back
            cx, cy, ex, ey = x + bw / 2, y + bh / 2, bw / MASK_FILL / 2, bh / MASK_FILL / 2
            score = float(lesion_prob[y : y + bh, x : x + bw][comp].mean())
            kept.append(Detection(Box(cx - ex, cy - ey, cx + ex, cy + ey).clip(w, h), 0, label, score, (score,)))
    kept.sort(key=lambda d: -d.score)
    return kept, len(kept) - base
