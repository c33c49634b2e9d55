"""Segment the pixels inside the detected head region with the U-Net (one forward pass for all crops)."""
from __future__ import annotations

import cv2
import numpy as np

from inference.models.unet import UNetModel
from inference.types import Detection, Segmentation

CROP_MARGIN = 0.08  # context around each box, as a fraction of its size


def argmax_max(planes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``np.argmax`` and ``np.max`` over a list of equal-shaped class planes (ties: the first
    class, as argmax), in one pass per plane: faster than stacking and reducing over the
    class axis, which numpy walks with a stride (1.5x for three 256 px planes on the 2-core
    CPU, measured 2026-12-07)."""
    best = np.array(planes[0], dtype=np.float32, copy=True)
    labels = np.zeros(best.shape, np.uint8)
    for c, plane in enumerate(planes[1:], start=1):
        better = plane > best
        labels[better] = c
        np.maximum(best, plane, out=best)
    return labels, best


class RegionSegmenter:
    """Runs the U-Net on each detected region and pastes the labels back.

    Labels: 0 outside every region, else the U-Net's class index.
    """

    def __init__(self, unet: UNetModel):
        self.unet = unet
        self.size = unet.size
        self.classes = unet.classes

    def crops(self, rgb: np.ndarray, dets: list[Detection]) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        h, w = rgb.shape[:2]
        out = []
        for d in dets:
            x1, y1, x2, y2 = d.box.expand(CROP_MARGIN).clip(w, h).as_int()
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            out.append(((x1, y1, x2, y2), rgb[y1:y2, x1:x2]))
        return out

    def predict(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Class probabilities (C x size x size) for each crop."""
        return self.unet.probabilities(crops, self.size)

    def paste(self, rgb_shape: tuple[int, ...], dets: list[Detection],
              placed: list[tuple[tuple[int, int, int, int], np.ndarray]]) -> Segmentation:
        h, w = rgb_shape[:2]
        n = len(self.classes)
        best = np.zeros((h, w), np.float32)
        labels = np.zeros((h, w), np.uint8)
        counts = []
        for (x1, y1, x2, y2), probs in placed:
            lab, conf = argmax_max([cv2.resize(p, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR) for p in probs])
            win_b, win_l = best[y1:y2, x1:x2], labels[y1:y2, x1:x2]
            take = conf > win_b
            win_l[take], win_b[take] = lab[take], conf[take]
        for d in dets:
            bx1, by1, bx2, by2 = d.box.clip(w, h).as_int()
            region = labels[by1:by2, bx1:bx2]
            bc = np.bincount(region.ravel(), minlength=n)
            counts.append({self.classes[i]: int(bc[i]) for i in range(n)})
        return Segmentation(labels, self.classes, tuple(counts))

    def segment(self, images: list[np.ndarray], detections: list[list[Detection]]) -> list[Segmentation]:
        """All regions of all images in one batch."""
        per_image = [self.crops(im, d) for im, d in zip(images, detections)]
        flat = [c for crops in per_image for _, c in crops]
        probs = self.predict(flat)
        out, k = [], 0
        for im, dets, crops in zip(images, detections, per_image):
            placed = [(xyxy, probs[k + i]) for i, (xyxy, _) in enumerate(crops)]
            k += len(crops)
            out.append(self.paste(im.shape, dets, placed))
        return out
