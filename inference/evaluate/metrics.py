"""Metrics shared by the evaluations: grade classification, and boxes ranked as
Ultralytics' validator ranks them (greedy matching by confidence, 101-point AP)."""
from __future__ import annotations

import numpy as np

from inference.models.yolo import box_iou
from inference.types import GRADES


def classification_metrics(y_true: list[str], y_pred: list[str], labels=GRADES) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true, columns: predicted)."""
    idx = {g: i for i, g in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), np.int64)
    for t, p in zip(y_true, y_pred):
        cm[idx[t], idx[p]] += 1
    n = int(cm.sum())
    f1s = []
    for i in range(len(labels)):
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = tp / cm[i].sum() if cm[i].sum() else 0.0
        # classes absent from both truth and prediction do not count towards the macro mean
        if cm[i].sum() or cm[:, i].sum():
            f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {
        "n": n,
        "accuracy": round(float(np.trace(cm) / n), 4) if n else None,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else None,
        "confusion": {"labels": list(labels), "matrix": cm.tolist()},
    }


COVERAGES = (0.5, 0.7, 0.9)  # the shares of photos graded that confidence_report reads off
ECE_BINS = 10


def confidence_report(confidence: list[float], right: list[bool], coverages=COVERAGES) -> dict:
    """How far the confidence can be trusted: the accuracy of the most confident 50 / 70 / 90%
    of the photos (the risk-coverage curve read at those points, with the confidence each
    starts at), and the expected calibration error (``ECE_BINS`` equal-width bins).

    >>> confidence_report([0.9, 0.8, 0.6, 0.4], [True, True, False, True], (0.5, 1.0))["coverage"]["0.5"]
    {'accuracy': 1.0, 'from_confidence': 0.8}
    """
    conf, hit = np.asarray(confidence, float), np.asarray(right, bool)
    if not len(conf):
        return {"coverage": {}, "ece": None}
    order = np.argsort(-conf, kind="stable")
    cov = {}
    for c in coverages:
        k = max(1, int(round(c * len(order))))
        cov[str(c)] = {"accuracy": round(float(hit[order[:k]].mean()), 4),
                       "from_confidence": round(float(conf[order[k - 1]]), 4)}
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    ece = sum(abs(hit[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean()
              for b in range(ECE_BINS) if (bins == b).any())
    return {"coverage": cov, "ece": round(float(ece), 4)}


def coverage_line(report: dict) -> str:
    """``accuracy at 50% graded 0.79 (confidence >= 0.63), ...; ECE 0.07``"""
    parts = [f"{float(c) * 100:.0f}% graded {v['accuracy']} (confidence >= {v['from_confidence']})"
             for c, v in report["coverage"].items()]
    return "accuracy of the most confident: " + ", ".join(parts) + f"; ECE {report['ece']}"


IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
MAP_CONF, MAP_IOU, MAP_MAX_DET = 0.001, 0.7, 300


def match(pred: np.ndarray, scores: np.ndarray, gt: np.ndarray, thresholds=IOU_THRESHOLDS) -> np.ndarray:
    """Correct flags (N x T): detections in descending score claim their best unclaimed
    target at each IoU threshold (Ultralytics' greedy matching)."""
    thresholds = np.atleast_1d(np.asarray(thresholds, np.float64))
    order = np.argsort(-np.asarray(scores), kind="stable")
    correct = np.zeros((len(pred), len(thresholds)), bool)
    if len(pred) == 0 or len(gt) == 0:
        return correct
    iou = box_iou(gt, np.asarray(pred)[order])  # targets x detections (sorted)
    matched = np.zeros((len(gt), len(thresholds)), bool)
    for j in np.flatnonzero((iou >= thresholds.min()).any(0)):
        avail = np.where(matched, 0, iou[:, j, None])
        k = avail.argmax(0)
        ok = avail[k, range(len(thresholds))] >= thresholds
        correct[order[j]] = ok
        matched[k, range(len(thresholds))] |= ok
    return correct


def average_precision(per_image: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """mAP50, mAP50-95 and P / R at the best-F1 confidence (Ultralytics' ``ap_per_class``).

    ``per_image``: (pred boxes N x 4, scores N, target boxes M x 4)."""
    from ultralytics.utils.metrics import ap_per_class

    tps, confs, n_gt = [], [], 0
    for pred, sc, gt in per_image:
        tps.append(match(pred, sc, gt))
        confs.append(np.asarray(sc, np.float64))
        n_gt += len(gt)
    tp = np.concatenate(tps) if tps else np.zeros((0, 10), bool)
    conf = np.concatenate(confs) if confs else np.zeros(0)
    if n_gt == 0:
        return {"map50": None, "map50_95": None, "p_best_f1": None, "r_best_f1": None}
    res = ap_per_class(tp, conf, np.zeros(len(conf)), np.zeros(n_gt))
    p, r, ap = res[2], res[3], res[5]
    if len(ap) == 0:
        return {"map50": 0.0, "map50_95": 0.0, "p_best_f1": 0.0, "r_best_f1": 0.0}
    return {"map50": round(float(ap[0, 0]), 4), "map50_95": round(float(ap[0].mean()), 4),
            "p_best_f1": round(float(p[0]), 4), "r_best_f1": round(float(r[0]), 4)}


def precision_recall(per_image: list[tuple[np.ndarray, np.ndarray, np.ndarray]], iou: float = 0.5) -> dict:
    """P, R, F1 of already-thresholded detections (a match at IoU ``iou``)."""
    tp = fp = n_gt = 0
    for pred, sc, gt in per_image:
        c = match(pred, sc, gt, [iou])[:, 0]
        tp += int(c.sum())
        fp += int((~c).sum())
        n_gt += len(gt)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / n_gt if n_gt else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "tp": tp, "fp": fp, "fn": n_gt - tp}


def boxes_of(dets) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets], np.float64).reshape(-1, 4),
            np.array([d.score for d in dets], np.float64))
