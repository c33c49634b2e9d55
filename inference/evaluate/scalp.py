"""The scalp evaluation: the grade overall and per view, the routing, and mask IoU where
reference masks are given; the chain is the one the service loads. The view classifier
against the views in the file names (``evaluate_views``)."""
from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from inference.datasets import read_scalp_rows
from inference.models.face_detector import FaceDetector
from inference.pipeline.scalp.anatomy import SCALP, SCALP_CLASSES
from inference.pipeline.scalp.chain import ScalpChain
from inference.pipeline.scalp.view import ViewClassifier, predict_views
from inference.service.domains import load_router, load_scalp
from inference.types import GRADES, UNCERTAIN, VIEWS, Face

from .metrics import classification_metrics, confidence_report, coverage_line

RouteCheck = Callable[[list[np.ndarray]], list[bool]]
LEAK_VIEWS = ("Front", "Left", "Right")  # the views that show a face
LEAK_LIMIT = 0.03  # the product's aim: at most this share of a face below the eyes labelled scalp


def face_leak(labels: np.ndarray, faces: list[Face]) -> list[float]:
    """Per face, the share of its box below the eyes that ``labels`` (SCALP_CLASSES) calls scalp."""
    h, w = labels.shape
    out = []
    for f in faces:
        x1, _, x2, y2 = f.box.clip(w, h).as_int()
        below = labels[int(f.eyes[1]) : y2, x1:x2]
        if below.size:
            out.append(float((below == SCALP).mean()))
    return out


def leak_summary(leaks: list[float]) -> dict:
    return {"faces": len(leaks), "mean": round(float(np.mean(leaks)), 4) if leaks else None,
            f"over_{LEAK_LIMIT:g}": int(sum(v > LEAK_LIMIT for v in leaks))}


def evaluate_scalp(chain: ScalpChain, rows: list[dict], reference_masks: dict[str, Path] | None = None,
                   batch: int = 8, router: RouteCheck | None = None,
                   leak_finders: dict[str, FaceDetector] | None = None) -> dict:
    """Grade metrics overall and per view; per-class mask IoU (the answer's classes, background
    aside) against reference masks where given, inside the detected head box; the face leak
    (``face_leak``) on front and side views for each face finder given (by name)."""
    truth, guess, final, views, routed, confs = [], [], [], [], [], []
    leaks: dict[str, list[float]] = {name: [] for name in leak_finders or {}}
    inter = np.zeros(len(SCALP_CLASSES))
    union = np.zeros(len(SCALP_CLASSES))
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        imgs = [cv2.cvtColor(cv2.imread(r["path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for r in chunk]
        for r, im, a in zip(chunk, imgs, chain.analyze(imgs)):
            truth.append(r["grade3"])
            guess.append(a.grade.best_guess)
            final.append(a.grade.grade)
            confs.append(a.grade.confidence)
            views.append(r["view"])
            if r["view"] in LEAK_VIEWS:
                for name, finder in (leak_finders or {}).items():
                    leaks[name] += face_leak(a.segmentation.labels, finder.detect(im, orientations=1))
            ref = (reference_masks or {}).get(r["filename"])
            if ref is not None and Path(ref).exists() and a.detections:
                lab = cv2.imread(str(ref), cv2.IMREAD_UNCHANGED)
                x1, y1, x2, y2 = a.detections[0].box.clip(lab.shape[1], lab.shape[0]).as_int()
                t = lab[y1:y2, x1:x2]
                p = a.segmentation.labels[y1:y2, x1:x2]
                v = t < len(SCALP_CLASSES)  # partial labels and unlabelled pixels are not scored
                for c in range(1, len(SCALP_CLASSES)):
                    inter[c] += np.sum((t == c) & (p == c) & v)
                    union[c] += np.sum(((t == c) | (p == c)) & v)
        if router is not None:
            routed += router(imgs)
    out = classification_metrics(truth, guess)
    sure = [k for k, g in enumerate(final) if g != UNCERTAIN]
    out["uncertain_rate"] = round(1 - len(sure) / max(len(final), 1), 4)
    out["accuracy_when_certain"] = (
        round(float(np.mean([truth[k] == final[k] for k in sure])), 4) if sure else None
    )
    out["confidence"] = confidence_report(confs, [t == g for t, g in zip(truth, guess)])
    out["per_view"] = {}
    for v in VIEWS:
        ks = [k for k, vv in enumerate(views) if vv == v]
        if ks:
            m = classification_metrics([truth[k] for k in ks], [guess[k] for k in ks])
            out["per_view"][v] = {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                                  "confusion": m["confusion"]["matrix"]}
    if reference_masks:
        out["mask_iou_check_subset"] = {"n": len(reference_masks)} | {
            name: round(float(inter[c] / union[c]), 4) if union[c] else None
            for c, name in enumerate(SCALP_CLASSES) if c > 0}
    out["routing_accuracy"] = round(float(np.mean(routed)), 4) if routed else None
    if leak_finders:
        out["face_leak"] = {name: leak_summary(v) for name, v in leaks.items()}
    return out


def view_metrics(truth: list[str], guess: list[str]) -> dict:
    """Views named by the file names against the guessed ones: accuracy, macro-F1, each view's
    recall and the confusion matrix (rows true, columns predicted, in ``VIEWS`` order)."""
    m = classification_metrics(truth, guess, labels=VIEWS)
    cm = np.array(m["confusion"]["matrix"])
    return {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
            "recall": {v: round(float(cm[k, k] / cm[k].sum()), 4) for k, v in enumerate(VIEWS) if cm[k].sum()},
            "confusion": m["confusion"]}


def evaluate_views(classifier: ViewClassifier, rows: list[dict], batch: int = 16, timing: bool = False) -> dict:
    """The view classifier against the views in the file names (``view_metrics``); with ``timing``,
    also the median time of one photo alone (``ms_per_photo``, the forward pass and its
    preprocessing, after a warm-up)."""
    truth, guess = [], []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        imgs = [cv2.cvtColor(cv2.imread(r["path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for r in chunk]
        truth += [r["view"] for r in chunk]
        guess += [e.view for e in predict_views(classifier, imgs)]
    out = view_metrics(truth, guess)
    if timing and rows:
        im = cv2.cvtColor(cv2.imread(rows[0]["path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        predict_views(classifier, [im])
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            predict_views(classifier, [im])
            times.append(time.perf_counter() - t0)
        out["ms_per_photo"] = round(1000 * float(np.median(times)), 2)
    return out


def scalp_route_check(weights: Path, settings) -> RouteCheck | None:
    """The product's router as a check: a photo counts as routed right when the router sends
    it to the scalp chain ("face" and "neither" count as wrong); None without router weights,
    so routing_accuracy is null rather than the default route's 100%."""
    router = load_router(weights, settings.runtime())
    if router is None:
        return None
    return lambda imgs: [d == "scalp" for d in router.classify(imgs)]


SUMMARY_KEYS = ("n", "accuracy", "macro_f1", "uncertain_rate", "accuracy_when_certain", "routing_accuracy")


def main(a: Namespace, settings) -> int:
    """The ``scalp`` subcommand; the last line printed is ``{"n", "accuracy", "macro_f1", "routing_accuracy"}``."""
    rows = read_scalp_rows(a.data, a.split)
    if not rows:
        print(f"no labelled images found under {a.data}", file=sys.stderr)
        return 2
    chain = load_scalp(settings.weights, settings.runtime())
    router = scalp_route_check(settings.weights, settings)
    total_true, total_pred, routed = [], [], []
    for split in sorted({r["split"] for r in rows}):
        m = evaluate_scalp(chain, [r for r in rows if r["split"] == split], router=router)
        print(f"[{split}] " + json.dumps({k: m[k] for k in SUMMARY_KEYS}))
        print(f"[{split}] confusion (rows true, cols predicted {list(GRADES)}): {m['confusion']['matrix']}")
        print(f"[{split}] " + coverage_line(m["confidence"]))
        if a.details:
            for v, pv in m["per_view"].items():
                print(f"[{split}] {v:9s} n={pv['n']:3d} acc={pv['accuracy']} macro_f1={pv['macro_f1']} "
                      f"confusion={pv['confusion']}")
        cm = np.array(m["confusion"]["matrix"])
        for i, t in enumerate(GRADES):
            for j, g in enumerate(GRADES):
                total_true += [t] * int(cm[i, j])
                total_pred += [g] * int(cm[i, j])
        if m["routing_accuracy"] is not None:
            routed.append((m["routing_accuracy"], m["n"]))
    overall = classification_metrics(total_true, total_pred)
    ra = round(sum(a * n for a, n in routed) / sum(n for _, n in routed), 4) if routed else None
    print(json.dumps({"n": overall["n"], "accuracy": overall["accuracy"], "macro_f1": overall["macro_f1"],
                      "routing_accuracy": ra}))
    return 0
