"""Grade: Hayashi levels from the lesion count, with thresholds calibrated on photos the
detector never trained on (a detector under-counts), mapped to LOW (mild), MIDDLE
(moderate), HIGH (severe, very severe); UNCERTAIN when the count sits too close to a
threshold for the level to be sure.

The count thresholds alone (no weights needed):
    >>> g = CountGrader()
    >>> g.grade(3).best_guess, g.grade(12).best_guess, g.grade(40).best_guess
    ('LOW', 'MIDDLE', 'HIGH')
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from inference.types import GRADES, UNCERTAIN, GradeResult

from .count import FusionParams
from .detect import BoxMerge

HAYASHI = (5.0, 20.0, 50.0)  # lesion counts: 0-5 mild, 6-20 moderate, 21-50 severe, over 50 very severe
LEVEL_NAMES = ("mild", "moderate", "severe", "very_severe")
LEVEL_TO_GRADE = (0, 1, 2, 2)  # index into GRADES


@dataclass
class CountGrader:
    """Hayashi level from the lesion count, with calibrated thresholds.

    Level k when count > ``thresholds[k-1]``; probabilities from a cumulative
    logistic model on log(1 + count) with one ``slope`` (fitted by likelihood):
    P(level >= k) = sigmoid(slope * (log1p(count) - log1p(thresholds[k-1] + 0.5))).
    """

    thresholds: tuple[float, float, float] = HAYASHI
    slope: float = 6.0
    uncertain_below: float = 0.5
    conf: float = 0.25  # detector operating confidence: boxes at or above it are lesions
    fusion: FusionParams = field(default_factory=FusionParams)
    meta: dict = field(default_factory=dict)
    # the detector's input size at run time (None: the size it was trained at). ACNE04's
    # train photos are enlarged copies (median box side 31.5 px against 26.9 px in valid:
    # face_metrics.json, labels.stats),
    # so a larger run-time size may match the product's photos better: measure before setting
    detector_imgsz: int | None = None
    merge: BoxMerge = field(default_factory=BoxMerge)  # a grader file without "merge": NMS at 0.5

    def level_probabilities(self, count: float | np.ndarray) -> np.ndarray:
        x = np.log1p(np.atleast_1d(np.asarray(count, np.float64)))[:, None]
        edges = np.log1p(np.asarray(self.thresholds, np.float64) + 0.5)[None]
        ge = 1 / (1 + np.exp(-self.slope * (x - edges)))  # P(level >= 1, 2, 3)
        ge = np.minimum.accumulate(ge, axis=1)
        p = np.concatenate([1 - ge[:, :1], ge[:, :-1] - ge[:, 1:], ge[:, -1:]], 1)
        return np.clip(p, 0, 1)

    def probabilities(self, count: float | np.ndarray) -> np.ndarray:
        """LOW / MIDDLE / HIGH probabilities (N x 3)."""
        p4 = self.level_probabilities(count)
        return np.stack([p4[:, 0], p4[:, 1], p4[:, 2] + p4[:, 3]], 1)

    def level(self, count: float) -> int:
        return int(sum(count > t for t in self.thresholds))

    def grade(self, count: float, reasons: tuple[str, ...] = ()) -> GradeResult:
        """The grade follows the thresholds; its probability says how sure (UNCERTAIN under
        ``uncertain_below``, or when ``reasons`` are given)."""
        p = self.probabilities(count)[0]
        i = LEVEL_TO_GRADE[self.level(count)]
        conf = float(p[i])
        why = list(reasons) + (["low_confidence"] if conf < self.uncertain_below else [])
        return GradeResult(UNCERTAIN if why else GRADES[i], round(conf, 4), GRADES[i],
                           {g: round(float(v), 4) for g, v in zip(GRADES, p)}, tuple(why))

    def to_json(self) -> dict:
        return {"thresholds": list(self.thresholds), "slope": self.slope, "uncertain_below": self.uncertain_below,
                "conf": self.conf, "fusion": asdict(self.fusion), "classes": list(GRADES),
                "levels": list(LEVEL_NAMES), "meta": self.meta, "detector_imgsz": self.detector_imgsz,
                "merge": asdict(self.merge)}

    @classmethod
    def from_json(cls, d: dict) -> CountGrader:
        return cls(tuple(float(t) for t in d["thresholds"]), float(d["slope"]), float(d.get("uncertain_below", 0.5)),
                   float(d.get("conf", 0.25)), FusionParams(**d.get("fusion", {})), d.get("meta", {}),
                   int(d["detector_imgsz"]) if d.get("detector_imgsz") else None, BoxMerge(**d.get("merge", {})))
