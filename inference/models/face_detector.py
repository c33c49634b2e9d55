"""YuNet, OpenCV's face detector (Apache-2.0; ``weights/yunet_s_320_320.onnx`` and its licence
``weights/yunet.LICENSE``): boxes and five landmarks, in any right-angle orientation.

Scalp photos arrive turned every way (a crown photographed from above has no "up"), so the
detector looks at the photo in its four quarter turns and keeps the turn with the best face;
the faces come back in the photo's own coordinates. The photo is reduced to ``SIDE`` px on its
long side first: YuNet finds faces down to about 10 px there.

The network runs in ONNX Runtime and its outputs are decoded here as OpenCV's
``FaceDetectorYN`` decodes them (``objdetect/src/face_detect.cpp``: per stride, centre offsets,
log sizes and landmark offsets in grid cells, score = sqrt(cls * obj), then NMS): a pass costs
about 1.1 ms on this project's 2-core CPU against 2.1 ms through OpenCV's DNN module
(measured 2026-12-07; on the 598 scalp_uze photos the same faces, boxes and landmarks).

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

from .onnx_runtime import OnnxModule

SIDE = 320  # px: the long side the detector sees (the network's fixed input)
# Faces the product trusts: on the scalp photos, what YuNet takes for a face below 0.9 is often
# an ear, a hair whorl or a bald dome (hand-checked: inference/train/scalp/face_checks.json)
SCORE = 0.9
NMS = 0.3
TOP_K = 50
STRIDES = (8, 16, 32)


class FaceDetector:
    def __init__(self, model: Path, score: float = SCORE):
        self.net = OnnxModule(model, threads=1)  # a small network: one thread beats two without spinning
        self.outputs = [o.name for o in self.net.session.get_outputs()]
        self.score = score

    def _raw(self, chw: np.ndarray) -> np.ndarray:
        """YuNet's rows (x, y, w, h, 10 landmark coordinates, score) for one BGR image in
        channels-first order (any strides), at most ``SIDE`` px a side (zero-padded at the bottom
        and right, as OpenCV pads)."""
        h, w = chw.shape[1:]
        x = np.zeros((1, 3, SIDE, SIDE), np.float32)
        x[0, :, :h, :w] = chw
        out = dict(zip(self.outputs, self.net.session.run(self.outputs, {self.net.input: x})))
        rows = []
        for stride in STRIDES:
            cols = SIDE // stride
            cls = np.clip(out[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(out[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score)
            if not len(keep):
                continue
            c, r = (keep % cols).astype(np.float32), (keep // cols).astype(np.float32)
            bb, kp = out[f"bbox_{stride}"][0, keep], out[f"kps_{stride}"][0, keep]
            cx, cy = (c + bb[:, 0]) * stride, (r + bb[:, 1]) * stride
            bw, bh = np.exp(bb[:, 2]) * stride, np.exp(bb[:, 3]) * stride
            pts = np.empty((len(keep), 10), np.float32)
            pts[:, 0::2] = (kp[:, 0::2] + c[:, None]) * stride
            pts[:, 1::2] = (kp[:, 1::2] + r[:, None]) * stride
            rows.append(np.column_stack([cx - bw / 2, cy - bh / 2, bw, bh, pts, score[keep]]))
        if not rows:
            return np.zeros((0, 15), np.float32)
        faces = np.concatenate(rows).astype(np.float32)
        idx = cv2.dnn.NMSBoxes(faces[:, :4].tolist(), faces[:, 14].tolist(), self.score, NMS, top_k=TOP_K)
        return faces[np.asarray(idx, int).reshape(-1)]

    def raw(self, bgr: np.ndarray, orientations: int = 4) -> np.ndarray:
        """YuNet's rows (x, y, w, h, 10 landmark coordinates, score) in ``bgr``'s pixels, from the
        quarter turn (of the first ``orientations``) with the best face."""
        h, w = bgr.shape[:2]
        chw = bgr.transpose(2, 0, 1)  # turned as a view: one copy a turn, into the network's input
        best, best_score = np.zeros((0, 15), np.float32), 0.0
        for k in range(orientations):
            f = self._raw(np.rot90(chw, k, axes=(1, 2)))
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
