"""Detect regions, with flip test-time augmentation for the class scores.

Photos of the scalp arrive in any orientation, so the detector is trained with
horizontal and vertical flips, and at run time the class scores of the best box
are averaged over the flipped copies (one batch, one forward pass). The box itself
comes from the unflipped photo. Which flips: the grader's ``flips`` (``scalp_grader.json``;
"none" in the shipped one, model card, "Tried, not shipped").
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from inference.models.yolo import YoloDetector
from inference.types import Detection

FLIPS = {
    "none": lambda im: im,
    "h": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "v": lambda im: np.ascontiguousarray(im[::-1]),
    "hv": lambda im: np.ascontiguousarray(im[::-1, ::-1]),
}


def detect(detector: YoloDetector, images: list[np.ndarray], conf: float,
           flips: tuple[str, ...] = ("none",)) -> list[list[Detection]]:
    """Detections per image, best first; the best one's class scores averaged over ``flips``."""
    if not images:
        return []
    if flips[0] != "none":
        raise ValueError("the first flip must be 'none': boxes come from the photo as it is")
    batch = [FLIPS[f](im) for im in images for f in flips]
    raw = detector.detect(batch, conf=conf)
    out = []
    k = len(flips)
    for i in range(len(images)):
        group = raw[i * k : (i + 1) * k]
        dets = group[0]
        if dets and k > 1:
            n = len(dets[0].class_scores)
            scores = np.mean([g[0].class_scores if g else np.zeros(n) for g in group], axis=0)
            best = int(np.argmax(scores))
            top = replace(dets[0], class_id=best, label=detector.names[best], score=float(scores[best]),
                          class_scores=tuple(float(s) for s in scores))
            dets = [top] + dets[1:]
        out.append(dets)
    return out
