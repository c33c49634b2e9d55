"""The scalp grader as the pipeline runs it: features by name, the grade CNN's part (no weights)."""
from __future__ import annotations

import numpy as np
import pytest

from inference.pipeline.scalp.grade import (
    CNN_FEATURES,
    MEASURE_FEATURES,
    SCALP_FEATURES,
    VIEW_FEATURES,
    VIEW_RATIO_FEATURES,
    ZONE_FEATURES,
    LogisticGrader,
    grade_scalp,
    scalp_features,
    select,
)
from inference.pipeline.scalp.measure import ScalpMeasurements
from inference.types import Box, Detection


def test_scalp_grader_with_the_grade_cnn_needs_its_probabilities():
    det = Detection(Box(0, 0, 100, 100), 1, "MIDDLE", 0.6, (0.1, 0.6, 0.3))
    m = ScalpMeasurements(exposed_scalp_ratio=0.2, hair_pixels=8000, scalp_pixels=2000, region_fraction=0.4, regions=1)
    assert scalp_features(det, m).shape == (len(SCALP_FEATURES) + len(ZONE_FEATURES),)
    assert scalp_features(det, m, np.array([0.1, 0.2, 0.7]))[-3:].tolist() == [0.1, 0.2, 0.7]
    feats = SCALP_FEATURES + CNN_FEATURES
    w = np.zeros((3, len(feats)))
    w[0, -3] = w[1, -2] = w[2, -1] = 5.0  # this grader follows the CNN
    g = LogisticGrader(feats, np.zeros(len(feats)), np.ones(len(feats)), w, np.zeros(3))
    assert grade_scalp(g, det, m, np.array([0.05, 0.05, 0.9])).best_guess == "HIGH"
    assert grade_scalp(g, det, m, np.array([0.9, 0.05, 0.05])).best_guess == "LOW"
    with pytest.raises(ValueError):
        grade_scalp(g, det, m)  # the CNN was not loaded


def test_a_grader_reads_the_features_it_names():
    """A grader fitted without the detector's scores takes just its own columns, by name."""
    det = Detection(Box(0, 0, 100, 100), 2, "HIGH", 0.9, (0.0, 0.1, 0.9))
    m = ScalpMeasurements(exposed_scalp_ratio=0.2, hair_pixels=8000, scalp_pixels=2000, region_fraction=0.4, regions=1)
    cnn = np.array([0.7, 0.2, 0.1])
    feats = MEASURE_FEATURES + CNN_FEATURES
    assert scalp_features(det, m, cnn, feats).tolist() == [0.2, pytest.approx(np.log(0.25)), 0.4, 0.7, 0.2, 0.1]
    w = np.zeros((3, len(feats)))
    w[0, -3] = w[1, -2] = w[2, -1] = 5.0
    g = LogisticGrader(feats, np.zeros(len(feats)), np.ones(len(feats)), w, np.zeros(3))
    assert grade_scalp(g, det, m, cnn).best_guess == "LOW"  # the detector's HIGH is not among its features
    with pytest.raises(ValueError, match="cnn_low"):
        select(MEASURE_FEATURES, feats)


def test_zone_and_view_features_by_name():
    """A zone the view does not show takes the whole ratio; a grader that uses the view needs it."""
    det = Detection(Box(0, 0, 100, 100), 1, "MIDDLE", 0.6, (0.1, 0.6, 0.3))
    m = ScalpMeasurements(0.3, 7000, 3000, 0.4, 1, zones={"frontal": 0.6, "mid": None, "crown": 0.1},
                          view="Front", view_probabilities={"Front": 0.9, "Top-Down": 0.1})
    x = scalp_features(det, m, names=ZONE_FEATURES + VIEW_FEATURES)
    assert x[:3].tolist() == [0.6, 0.3, 0.1]
    assert x[3:].tolist() == [0.1, 0.0, 0.9, 0.0, 0.0]  # Top-Down, Back, Front, Left, Right
    by_view = scalp_features(det, m, names=VIEW_RATIO_FEATURES)  # the ratio's logit weighed by each view
    assert by_view.tolist() == pytest.approx([0.1 * np.log(0.3 / 0.7), 0, 0.9 * np.log(0.3 / 0.7), 0, 0])
    g = LogisticGrader(VIEW_FEATURES, np.zeros(5), np.ones(5), np.zeros((3, 5)), np.zeros(3))
    bare = ScalpMeasurements(0.3, 7000, 3000, 0.4, 1)
    with pytest.raises(ValueError, match="view"):
        grade_scalp(g, det, bare)

