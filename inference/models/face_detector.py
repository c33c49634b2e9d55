"""YuNet, OpenCV's face detector (Apache-2.0; ``weights/yunet_s_320_320.onnx`` and its licence
``weights/yunet.LICENSE``): boxes and five landmarks, in any right-angle orientation.

Scalp photos arrive turned every way (a crown photographed from above has no "up"), so the
detector looks at the photo in its four quarter turns and keeps the turn with the best face;
the faces come back in the photo's own coordinates. The photo is reduced to ``SIDE`` px on its
long side first: YuNet finds faces down to about 10 px there, and a pass costs about 2 ms on
this project's CPU (measured 2026-12-07, 2 cores, 133 scalp photos: 1.9 ms median).

Example (needs the weights):
    >>> faces = FaceDetector(Path("weights/yunet_s_320_320.onnx")).detect(rgb)   # doctest: +SKIP
    >>> faces[0].eyes                                                             # doctest: +SKIP
    (412.0, 388.5)
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inference.types import Box, Face

SIDE = 320  # px: the long side the detector sees
# Faces the product trusts: on the scalp photos, what YuNet takes for a face below 0.9 is often
# an ear, a hair whorl or a bald dome (hand-checked: inference/train/scalp/face_checks.json)
SCORE = 0.9
NMS = 0.3
TOP_K = 50


class FaceDetector:
    def __init__(self, model: Path, score: float = SCORE):
        self.net = cv2.FaceDetectorYN.create(str(model), "", (SIDE, SIDE), score, NMS, TOP_K)

    def _raw(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(bgr)
        return np.zeros((0, 15), np.float32) if faces is None else faces

    def raw(self, bgr: np.ndarray, orientations: int = 4) -> np.ndarray:
        """YuNet's rows (x, y, w, h, 10 landmark coordinates, score) in ``bgr``'s pixels, from the
        quarter turn (of the first ``orientations``) with the best face."""
        h, w = bgr.shape[:2]
        best, best_score = np.zeros((0, 15), np.float32), 0.0
        for k in range(orientations):
            f = self._raw(np.ascontiguousarray(np.rot90(bgr, k)))
            if len(f) and f[:, 14].max() > best_score:
                best, best_score = unrotate(f.copy(), k, w, h), float(f[:, 14].max())
        return best

    def detect(self, rgb: np.ndarray, orientations: int = 4) -> list[Face]:
        """The faces of an RGB photo, in its pixels, best first."""
        h, w = rgb.shape[:2]
        s = min(1.0, SIDE / max(h, w))
        small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        rows = self.raw(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), orientations)
        faces = [face_of(r / np.array([s] * 14 + [1.0], np.float32)) for r in rows]
        return sorted(faces, key=lambda f: -f.score)


def face_of(row: np.ndarray) -> Face:
    x, y, bw, bh = (float(v) for v in row[:4])
    pts = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
    return Face(Box(x, y, x + bw, y + bh), pts, float(row[14]))


def unrotate(faces: np.ndarray, k: int, w: int, h: int) -> np.ndarray:
    """Map YuNet rows found in ``np.rot90(img, k)`` back to ``img`` (``w`` x ``h``)."""
    pts = np.concatenate([faces[:, 0:2], faces[:, 0:2] + faces[:, 2:4], faces[:, 4:14]], 1).reshape(len(faces), -1, 2)
    for i in range(k):  # undo one counter-clockwise quarter turn at a time
        # a point (x, y) of rot90(a) comes from (W - 1 - y, x) of a, W the width of a;
        # here a is the photo turned k - 1 - i times
        cur_w = w if (k - 1 - i) % 2 == 0 else h
        x, y = pts[..., 0].copy(), pts[..., 1].copy()
        pts[..., 0], pts[..., 1] = cur_w - 1 - y, x
    x1y1, x2y2 = np.minimum(pts[:, 0], pts[:, 1]), np.maximum(pts[:, 0], pts[:, 1])
    out = faces.copy()
    out[:, 0:2], out[:, 2:4] = x1y1, x2y2 - x1y1
    out[:, 4:14] = pts[:, 2:].reshape(len(faces), -1)
    return out
