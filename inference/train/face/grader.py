"""The face grader: Hayashi count thresholds fitted to the detector's counts on the
calibration fold, the slope of its level probabilities and its UNCERTAIN confidence.
The pipeline only reads what this produces (``CountGrader.to_json``)."""
from __future__ import annotations

import math

import numpy as np

from inference.pipeline.face.count import FusionParams
from inference.pipeline.face.detect import BoxMerge
from inference.pipeline.face.grade import HAYASHI, LEVEL_TO_GRADE, CountGrader

# UNCERTAIN from the risk-coverage curve on the calibration fold: graded answers right at least
# 8 times in 10 while at least 3 photos in 4 get a grade (the targets of "honest confidence")
GRADED_ACCURACY_TARGET = 0.80
GRADED_SHARE_MIN = 0.75
UNCERTAIN_GRID = np.round(np.arange(0.40, 0.901, 0.01), 2)


def uncertain_threshold(confidence: np.ndarray, right: np.ndarray) -> float:
    """The lowest confidence (``UNCERTAIN_GRID``) at which the photos graded are right at
    least ``GRADED_ACCURACY_TARGET`` of the time while at least ``GRADED_SHARE_MIN`` of them
    are graded; where none is, the one keeping that share with the best graded accuracy."""
    conf, hit = np.asarray(confidence, float), np.asarray(right, bool)
    best, best_acc = float(UNCERTAIN_GRID[0]), -1.0
    for t in UNCERTAIN_GRID:
        keep = conf >= t
        if keep.mean() < GRADED_SHARE_MIN or not keep.any():
            break  # the grid rises: fewer are kept from here on
        acc = float(hit[keep].mean())
        if acc >= GRADED_ACCURACY_TARGET:
            return float(t)
        if acc > best_acc:
            best, best_acc = float(t), acc
    return best


def fit_count_thresholds(counts: np.ndarray, levels: np.ndarray, max_count: int = 120) -> tuple[float, float, float]:
    """Integer thresholds maximising the LOW/MIDDLE/HIGH accuracy (t1, t2), then the
    4-level accuracy (t3); ties go to the thresholds closest to Hayashi's."""
    c, lv = np.asarray(counts, np.float64), np.asarray(levels, int)
    g3 = np.minimum(lv, 2)
    cand = np.arange(0, max_count + 1)

    def distance(t: float, ref: float) -> float:
        return abs(math.log1p(t) - math.log1p(ref))

    best, key = HAYASHI[:2], None
    for t1 in cand[:60]:
        lvl1 = c > t1
        for t2 in cand[cand > t1][:100]:
            pred = lvl1.astype(int) + (c > t2)
            acc = (pred == g3).mean()
            k = (round(acc, 9), -distance(t1, HAYASHI[0]) - distance(t2, HAYASHI[1]))
            if key is None or k > key:
                best, key = (float(t1), float(t2)), k
    t1, t2 = best
    key3, t3b = None, HAYASHI[2]
    for t3 in cand[cand > t2]:
        pred = (c > t1).astype(int) + (c > t2) + (c > t3)
        k = (round((pred == lv).mean(), 9), -distance(t3, HAYASHI[2]))
        if key3 is None or k > key3:
            key3, t3b = k, float(t3)
    return t1, t2, t3b


def fit_count_grader(counts: np.ndarray, levels: np.ndarray, conf: float, fusion: FusionParams | None = None,
                     merge: BoxMerge | None = None) -> CountGrader:
    """Thresholds (``fit_count_thresholds``), the slope by likelihood, and the UNCERTAIN
    confidence from the risk-coverage curve (``uncertain_threshold``)."""
    g = CountGrader(fit_count_thresholds(counts, levels), conf=conf, fusion=fusion or FusionParams(),
                    merge=merge or BoxMerge())
    lv = np.asarray(levels, int)
    best: tuple[float, float] | None = None
    for s in np.geomspace(1.0, 30.0, 60):
        g.slope = float(s)
        p = g.level_probabilities(counts)[np.arange(len(lv)), lv]
        ll = float(np.log(np.clip(p, 1e-6, 1)).sum())
        if best is None or ll > best[0]:
            best = (ll, float(s))
    assert best is not None
    g.slope = round(best[1], 4)
    p3 = g.probabilities(counts)
    y3 = np.minimum(lv, 2)
    pred = np.array([LEVEL_TO_GRADE[g.level(c)] for c in counts], int)
    conf3 = p3[np.arange(len(pred)), pred]
    g.uncertain_below = uncertain_threshold(conf3, pred == y3)
    return g
