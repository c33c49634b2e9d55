"""Fitting the graders: the face count thresholds on a simulated under-counting detector."""
from __future__ import annotations

import numpy as np

from inference.pipeline.face.grade import CountGrader
from inference.train.face import labels as L
from inference.train.face.grader import fit_count_grader


def test_count_grader_thresholds_probabilities_and_uncertain():
    rng = np.random.default_rng(0)
    # a detector that finds about 60% of the lesions: thresholds move down accordingly
    true = np.concatenate([rng.integers(0, 6, 80), rng.integers(6, 21, 80), rng.integers(21, 51, 40),
                           rng.integers(51, 70, 30)])
    levels = np.array([L.level_of_count(c) for c in true])
    counts = np.round(true * 0.6)
    g = fit_count_grader(counts, levels, conf=0.3)
    t1, t2, t3 = g.thresholds
    assert 1 <= t1 <= 4 and 9 <= t2 <= 13 and 27 <= t3 <= 31, g.thresholds
    p = g.probabilities(np.arange(0, 80))
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    assert (np.diff(p[:, 0]) <= 1e-9).all()  # LOW becomes less likely as the count rises
    far, near = g.grade(0), g.grade(t1 + 0.5)  # on the LOW / MIDDLE boundary
    assert far.grade == "LOW" and far.confidence > 0.9
    assert near.best_guess == "MIDDLE" and near.confidence <= 0.5 + 1e-6
    g.uncertain_below = 0.55
    assert g.grade(t1 + 0.5).grade == "UNCERTAIN" and g.grade(t1 + 0.5).reasons == ("low_confidence",)
    assert g.grade(0).grade == "LOW"
    assert CountGrader.from_json(g.to_json()).thresholds == g.thresholds


def test_uncertain_is_read_off_the_risk_coverage_curve():
    from inference.train.face.grader import uncertain_threshold

    # 200 photos, confidence 0.40-1.00: right 60% of the time under 0.6, 90% from it
    conf = np.linspace(0.40, 1.0, 200)
    right = np.where(conf < 0.6, np.arange(200) % 5 < 3, np.arange(200) % 10 != 0)
    t = uncertain_threshold(conf, right)
    keep = conf >= t
    assert keep.mean() >= 0.75 and right[keep].mean() >= 0.80
    lower = conf >= round(t - 0.01, 2)
    assert t == 0.40 or right[lower].mean() < 0.80  # the lowest that reaches the target
    # nothing reaches 0.8 while grading 75%: the best graded accuracy among those that grade 75%
    coin = np.arange(200) % 2 == 0
    t2 = uncertain_threshold(conf, coin)
    assert (conf >= t2).mean() >= 0.75
