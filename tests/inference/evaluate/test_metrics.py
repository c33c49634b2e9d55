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
