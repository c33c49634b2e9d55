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

from inference.types import GRADES, UNCERTAIN, VIEWS, Detection, GradeResult

from .measure import ScalpMeasurements
from .zones import ZONES

DETECTOR_FEATURES = ("det_low", "det_middle", "det_high", "det_score")  # the detector's class scores and confidence
MEASURE_FEATURES = ("exposed_ratio", "exposed_logit", "region_fraction")  # the U-Net's measurements in the region
SCALP_FEATURES = DETECTOR_FEATURES + MEASURE_FEATURES
# each Norwood zone's exposed ratio (zones.py; a zone the view does not show takes the whole ratio)
ZONE_FEATURES = tuple(f"zone_{z}" for z in ZONES)
# the view classifier's probabilities (view.py), when the chain has one
VIEW_FEATURES = tuple("view_" + v.lower().replace("-", "_") for v in VIEWS)
# the exposed ratio's logit weighed by each view's probability: a grader may read the ratio
# differently in each view (a crown close-up and a front view with the same ratio differ)
VIEW_RATIO_FEATURES = tuple(f"exposed_logit_{f}" for f in VIEW_FEATURES)
# the grade CNN's LOW / MIDDLE / HIGH probabilities on the head crop (chain.py), when the grader uses them
CNN_FEATURES = ("cnn_low", "cnn_middle", "cnn_high")
MIN_MEASURED_PIXELS = 2000  # fewer hair + scalp pixels than this: too little to measure


def _logit(r: float) -> float:
    r = min(max(r, 1e-3), 1 - 1e-3)
    return math.log(r / (1 - r))


def feature_values(det: Detection | None, m: ScalpMeasurements, cnn: np.ndarray | None = None) -> dict[str, float]:
    """Every feature this photo has, by name: ``SCALP_FEATURES`` and ``ZONE_FEATURES`` always,
    ``VIEW_FEATURES`` and ``VIEW_RATIO_FEATURES`` where the view was estimated, ``CNN_FEATURES``
    where the CNN ran."""
    s = det.class_scores if det is not None else (0.0, 0.0, 0.0)
    v: dict[str, float] = dict(zip(DETECTOR_FEATURES, (s[0], s[1], s[2], det.score if det else 0.0)))
    v.update(zip(MEASURE_FEATURES, (m.exposed_scalp_ratio, _logit(m.exposed_scalp_ratio), m.region_fraction)))
    for name, zone in zip(ZONE_FEATURES, ZONES):
        z = m.zones.get(zone)
        v[name] = float(z) if z is not None else m.exposed_scalp_ratio
    if m.view_probabilities:
        v.update((f, float(m.view_probabilities.get(view, 0.0))) for f, view in zip(VIEW_FEATURES, VIEWS))
        logit = v["exposed_logit"]
        v.update((r, logit * v[f]) for r, f in zip(VIEW_RATIO_FEATURES, VIEW_FEATURES))
    if cnn is not None:
        v.update(zip(CNN_FEATURES, (float(c) for c in cnn)))
    return v


def scalp_features(det: Detection | None, m: ScalpMeasurements, cnn: np.ndarray | None = None,
                   names: tuple[str, ...] | None = None) -> np.ndarray:
    """The features ``names`` in that order (a grader's ``features``); without ``names``, every
    feature the photo has (``feature_values``' order: detector, measurements, zones, view, CNN)."""
    values = feature_values(det, m, cnn)
    if names is None:
        return np.array(list(values.values()), dtype=np.float64)
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"features {missing} are not among {list(values)}")
    return np.array([values[n] for n in names], dtype=np.float64)


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
    """``cnn``: the grade CNN's probabilities; required when the grader was fitted with them (and the
    view's, in ``m``, when it uses the view)."""
    if CNN_FEATURES[0] in grader.features and cnn is None:
        raise ValueError("this scalp grader uses the grade CNN (weights/scalp_cnn.pt): load it with the other models")
    if set(VIEW_FEATURES + VIEW_RATIO_FEATURES) & set(grader.features) and not m.view_probabilities:
        raise ValueError("this scalp grader uses the view (weights/scalp_view.pt): load it with the other models")
    if CNN_FEATURES[0] not in grader.features:
        cnn = None
    reasons = []
    if det is None:
        reasons.append("no_region")
    if m.hair_pixels + m.scalp_pixels < MIN_MEASURED_PIXELS:
        reasons.append("too_little_measured")
    p = grader.probabilities(scalp_features(det, m, cnn, grader.features))[0]
    return decide(p, grader.uncertain_below, tuple(reasons))
