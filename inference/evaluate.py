"""`python -m inference.evaluate scalp --data DIR`: evaluate the shipped weights.

DIR is laid out like scalp_uze: ``labels.csv`` (split, filename, norwood_level,
grade3) and the images under ``<split>/``. Every split found is evaluated
(``--split`` picks one); the last line printed is one JSON object
``{"n", "accuracy", "macro_f1", "routing_accuracy"}`` over all evaluated photos.
Runs on the CPU and reads nothing but DIR and ``weights/``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import cv2
import numpy as np

from inference.datasets import VIEWS, view_of
from inference.pipeline.types import GRADES, UNCERTAIN

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


def read_rows(data: Path, split: str | None = None) -> list[dict]:
    rows = []
    with open(data / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            if split and r["split"] != split:
                continue
            p = data / r["split"] / r["filename"]
            if p.exists():
                rows.append({**r, "path": str(p), "view": view_of(r["filename"])})
    return rows


def evaluate_scalp(models, rows: list[dict], reference_masks: dict[str, Path] | None = None, batch: int = 8, router=None) -> dict:
    """Grade metrics overall and per view; mask IoU against reference masks where given."""
    truth, guess, final, conf, views, routed = [], [], [], [], [], []
    inter = np.zeros(3)
    union = np.zeros(3)
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        imgs = [cv2.cvtColor(cv2.imread(r["path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for r in chunk]
        for r, im, a in zip(chunk, imgs, models.analyze(imgs)):
            truth.append(r["grade3"])
            guess.append(a.grade.best_guess)
            final.append(a.grade.grade)
            conf.append(a.grade.confidence)
            views.append(r["view"])
            ref = (reference_masks or {}).get(r["filename"])
            if ref is not None and Path(ref).exists() and a.detections:
                lab = cv2.imread(str(ref), cv2.IMREAD_UNCHANGED)
                x1, y1, x2, y2 = a.detections[0].box.clip(lab.shape[1], lab.shape[0]).as_int()
                t = lab[y1:y2, x1:x2]
                p = a.segmentation.labels[y1:y2, x1:x2]
                v = t < 3
                for c in (1, 2):
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
    out["per_view"] = {}
    for v in VIEWS:
        ks = [k for k, vv in enumerate(views) if vv == v]
        if ks:
            m = classification_metrics([truth[k] for k in ks], [guess[k] for k in ks])
            out["per_view"][v] = {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "confusion": m["confusion"]["matrix"]}
    if reference_masks:
        out["mask_iou_check_subset"] = {
            "n": len(reference_masks),
            "scalp_skin": round(float(inter[1] / max(union[1], 1)), 4),
            "hair": round(float(inter[2] / max(union[2], 1)), 4),
        }
    out["routing_accuracy"] = round(float(np.mean(routed)), 4) if routed else None
    return out


def _router(weights: Path | None = None):
    """The product's router (``weights/router.pt``): a photo counts as routed right when the
    router sends it to the scalp pipeline ("face" and "neither" count as wrong); None
    without router weights, so routing_accuracy is null rather than the default route's 100%."""
    from inference.pipeline.route import load_router

    router = load_router(weights)
    if router is None:
        return None
    return lambda imgs: [d == "scalp" for d in router.classify(imgs)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference.evaluate", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="domain", required=True)
    s = sub.add_parser("scalp", help="hair-loss grade on a scalp_uze-style folder")
    k = sub.add_parser("skin", help="acne lesions, grade and routing on an ACNE04-style folder")
    for q in (s, k):
        q.add_argument("--data", type=Path, required=True)
        q.add_argument("--split", default=None, help="evaluate this split only")
        q.add_argument("--weights", type=Path, default=None, help="weights folder (default: weights/)")
        q.add_argument("--device", default="cpu")
    s.add_argument("--details", action="store_true", help="print per-view metrics and confusion matrices")
    k.add_argument("--details", action="store_true", help="print the 4-level confusion, counts and routing")
    a = p.parse_args(argv)
    if a.domain == "skin":
        from inference.evaluate_skin import main as skin_main

        return skin_main(a)

    from inference.pipeline.scalp import ScalpModels

    rows = read_rows(a.data, a.split)
    if not rows:
        print(f"no labelled images found under {a.data}", file=sys.stderr)
        return 2
    models = ScalpModels.load(a.weights, device=a.device)
    router = _router(a.weights)
    splits = sorted({r["split"] for r in rows})
    total_true, total_pred, routed = [], [], []
    for split in splits:
        sr = [r for r in rows if r["split"] == split]
        m = evaluate_scalp(models, sr, router=router)
        print(f"[{split}] " + json.dumps({k: m[k] for k in ("n", "accuracy", "macro_f1", "uncertain_rate", "accuracy_when_certain", "routing_accuracy")}))
        print(f"[{split}] confusion (rows true, cols predicted {list(GRADES)}): {m['confusion']['matrix']}")
        if a.details:
            for v, pv in m["per_view"].items():
                print(f"[{split}] {v:9s} n={pv['n']:3d} acc={pv['accuracy']} macro_f1={pv['macro_f1']} confusion={pv['confusion']}")
        cm = np.array(m["confusion"]["matrix"])
        for i, t in enumerate(GRADES):
            for j, g in enumerate(GRADES):
                total_true += [t] * int(cm[i, j])
                total_pred += [g] * int(cm[i, j])
        if m["routing_accuracy"] is not None:
            routed.append((m["routing_accuracy"], m["n"]))
    overall = classification_metrics(total_true, total_pred)
    ra = round(sum(a * n for a, n in routed) / sum(n for _, n in routed), 4) if routed else None
    print(json.dumps({"n": overall["n"], "accuracy": overall["accuracy"], "macro_f1": overall["macro_f1"], "routing_accuracy": ra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
