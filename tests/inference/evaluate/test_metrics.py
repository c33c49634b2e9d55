"""The evaluation metrics by hand."""
from __future__ import annotations

import numpy as np

from inference.evaluate.metrics import average_precision, match, precision_recall


def test_matching_and_average_precision_by_hand():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60]], float)
    c = match(pred, np.array([0.9, 0.8, 0.7]), gt, [0.5])[:, 0]
    assert c.tolist() == [True, False, False]  # a duplicate does not match twice
    pr = precision_recall([(pred, np.array([0.9, 0.8, 0.7]), gt)])
    assert (pr["tp"], pr["fp"], pr["fn"]) == (1, 2, 1)
    assert pr["precision"] == round(1 / 3, 4) and pr["recall"] == 0.5
    perfect = average_precision([(gt, np.array([0.9, 0.8]), gt)])
    assert perfect["map50"] > 0.99 and perfect["map50_95"] > 0.99


def test_confidence_report_reads_the_risk_coverage_curve_and_the_calibration_error():
    from inference.evaluate.metrics import confidence_report, coverage_line

    conf = [0.95, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45]
    right = [True, True, True, True, True, False, True, False, False, False]
    r = confidence_report(conf, right)
    assert r["coverage"]["0.5"] == {"accuracy": 1.0, "from_confidence": 0.7}
    assert r["coverage"]["0.7"] == {"accuracy": round(6 / 7, 4), "from_confidence": 0.6}
    assert r["coverage"]["0.9"] == {"accuracy": round(6 / 9, 4), "from_confidence": 0.5}
    # bins of 0.1: [0.4,0.5) 0.45 wrong; [0.5,0.6) 0.5, 0.55 wrong; [0.6,0.7) 0.6 right, 0.65 wrong;
    # [0.7,0.8) right; [0.8,0.9) 0.8, 0.85 right; [0.9,1.0] 0.9, 0.95 right
    ece = (0.1 * 0.45 + 0.2 * 0.525 + 0.2 * abs(0.5 - 0.625) + 0.1 * 0.3 + 0.2 * (1 - 0.825) + 0.2 * (1 - 0.925))
    assert r["ece"] == round(ece, 4)
    # a perfectly calibrated confidence has no error
    assert confidence_report([1.0, 1.0, 0.0], [True, True, False])["ece"] == 0.0
    assert "70% graded" in coverage_line(r) and "ECE" in coverage_line(r)
    assert confidence_report([], []) == {"coverage": {}, "ece": None}
