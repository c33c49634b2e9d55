"""Grades: LOW / MIDDLE / HIGH with a confidence, or UNCERTAIN when the evidence is weak.

The scalp grade is a small multinomial logistic model over the U-Net's measurements
(the exposed-scalp ratio inside the detected head region), the grade CNN's
probabilities on that region and, where they were out of sample for the photos it
was fitted on, the detector's class scores. Its parameters and the names of the
features it uses live in ``scalp_grader.json`` (fitted by ``inference/train``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.types import GRADES, UNCERTAIN, Detection, GradeResult

from .measure import ScalpMeasurements

DETECTOR_FEATURES = ("det_low", "det_middle", "det_high", "det_score")  # the detector's class scores and confidence
MEASURE_FEATURES = ("exposed_ratio", "exposed_logit", "region_fraction")  # the U-Net's measurements in the region
SCALP_FEATURES = DETECTOR_FEATURES + MEASURE_FEATURES
# the grade CNN's LOW / MIDDLE / HIGH probabilities on the head crop (chain.py), when the grader uses them
CNN_FEATURES = ("cnn_low", "cnn_middle", "cnn_high")
MIN_MEASURED_PIXELS = 2000  # fewer hair + scalp pixels than this: too little to measure


def scalp_features(det: Detection | None, m: ScalpMeasurements, cnn: np.ndarray | None = None,
                   names: tuple[str, ...] | None = None) -> np.ndarray:
    """``SCALP_FEATURES``, then ``CNN_FEATURES`` when the CNN's probabilities are given;
    with ``names``, just those features in that order (a grader's ``features``)."""
    s = det.class_scores if det is not None else (0.0, 0.0, 0.0)
    r = min(max(m.exposed_scalp_ratio, 1e-3), 1 - 1e-3)
    base = [s[0], s[1], s[2], det.score if det else 0.0,
            m.exposed_scalp_ratio, math.log(r / (1 - r)), m.region_fraction]
    x = np.array(base + ([] if cnn is None else [float(v) for v in cnn]), dtype=np.float64)
    return x if names is None else x[select(SCALP_FEATURES + (CNN_FEATURES if cnn is not None else ()), names)]


def select(available: tuple[str, ...], names: tuple[str, ...]) -> list[int]:
    """The columns of ``names`` among ``available`` feature columns."""
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"features {missing} are not among {list(available)}")
    return [available.index(n) for n in names]


@dataclass
class LogisticGrader:
    """Softmax regression on standardised features."""

    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  # classes x features
    bias: np.ndarray  # classes
    uncertain_below: float = 0.5
    flips: tuple[str, ...] = ("none",)  # detector test-time flips the features were made with

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(x) - self.mean) / self.std) @ self.weight.T + self.bias
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def to_json(self) -> dict:
        return {
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
            "uncertain_below": self.uncertain_below,
            "flips": list(self.flips),
            "classes": list(GRADES),
        }

    @classmethod
    def from_json(cls, d: dict) -> LogisticGrader:
        return cls(
            tuple(d["features"]), np.array(d["mean"]), np.array(d["std"]),
            np.array(d["weight"]), np.array(d["bias"]), float(d.get("uncertain_below", 0.5)),
            tuple(d.get("flips", ("none",))),
        )


def decide(p: np.ndarray, uncertain_below: float, reasons: tuple[str, ...] = ()) -> GradeResult:
    i = int(np.argmax(p))
    probs = {g: round(float(v), 4) for g, v in zip(GRADES, p)}
    conf = float(p[i])
    why = list(reasons)
    if conf < uncertain_below:
        why.append("low_confidence")
    grade = UNCERTAIN if why else GRADES[i]
    return GradeResult(grade, round(conf, 4), GRADES[i], probs, tuple(why))


def grade_scalp(grader: LogisticGrader, det: Detection | None, m: ScalpMeasurements,
                cnn: np.ndarray | None = None) -> GradeResult:
    """``cnn``: the grade CNN's probabilities; required when the grader was fitted with them."""
    if CNN_FEATURES[0] in grader.features and cnn is None:
        raise ValueError("this scalp grader uses the grade CNN (weights/scalp_cnn.pt): load it with the other models")
    if CNN_FEATURES[0] not in grader.features:
        cnn = None
    reasons = []
    if det is None:
        reasons.append("no_region")
    if m.hair_pixels + m.scalp_pixels < MIN_MEASURED_PIXELS:
        reasons.append("too_little_measured")
    p = grader.probabilities(scalp_features(det, m, cnn, grader.features))[0]
    return decide(p, grader.uncertain_below, tuple(reasons))
