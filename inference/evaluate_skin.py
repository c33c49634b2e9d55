"""Evaluation of the face (acne) models: `python -m inference.evaluate skin --data DIR`.

DIR is laid out like ACNE04 (``<split>/images``, ``<split>/labels`` in YOLO
format, ``image_severity.csv``). Every split found is evaluated (``--split``
picks one); the last line printed is one JSON object
``{"n", "map50", "map50_95", "precision", "recall", "fusion_precision",
"fusion_recall", "grade_accuracy", "routing_accuracy"}`` over all evaluated photos.

* ``map50``, ``map50_95``: the detector alone, ranked as Ultralytics' validator ranks
  them (greedy matching by confidence, 101-point interpolated AP, at most 300 per
  photo), so they compare with the baseline measured with ``model.val``. The boxes:
  with NMS (``face_grader.json`` ``merge.method`` "nms") Ultralytics' own (from
  confidence 0.001, NMS IoU 0.7); with weighted box clustering ("cluster") the
  product's own clusters, exactly as ``FaceModels`` makes them;
* ``precision``, ``recall``: the detector alone at the product's operating point
  (confidence ``conf`` and the merge of ``face_grader.json``, a match at IoU 0.5);
  ``fusion_precision``, ``fusion_recall``: the same boxes plus what the U-Net adds
  (``inference.pipeline.face.fuse``), at the same operating point, whether or not
  the product uses the fusion (``fusion_used`` says);
* ``grade_accuracy``: LOW / MIDDLE / HIGH from the lesion count (the best guess,
  also when the answer is UNCERTAIN) against ``grade3``; the 4-level Hayashi
  accuracy (ACNE04 paper: 84.11%) is printed beside it;
* ``routing_accuracy``: the share of the photos the router sends to the face
  pipeline (null without ``router.pt``).

Runs on the CPU and reads nothing but DIR and the weights folder.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import cv2
import numpy as np

from inference.models.yolo import box_iou
from inference.pipeline.types import GRADES

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


def _boxes(dets) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets], np.float64).reshape(-1, 4),
            np.array([d.score for d in dets], np.float64))


def detector_passes(detector, rows, batch: int = 8):
    """Per chunk of ``batch`` photos of ``rows`` (with ``.image`` paths): the chunk, the photos
    as RGB, and the detector's raw output and letterbox metas from one forward pass."""
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        imgs = [cv2.cvtColor(cv2.imread(str(r.image), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for r in chunk]
        x, metas = detector.preprocess(imgs)
        yield chunk, imgs, detector.forward(x), metas


def collect(models, rows, batch: int = 8, router=None, log=None) -> list[dict]:
    """Per photo: the product's analysis pieces, low-confidence detections for mAP, the truth."""
    from inference.models.yolo import postprocess

    from inference.train.skin_labels import read_boxes

    det = models.detector
    merge = models.grader.merge
    floor = min(merge.candidate_conf, models.grader.conf)
    out = []
    for chunk, imgs, raw, metas in detector_passes(det, rows, batch):
        cands = postprocess(raw, metas, det.names, conf=floor, iou=merge.iou, max_det=MAP_MAX_DET, merge=merge.method)
        low = cands if merge.method == "cluster" else postprocess(raw, metas, det.names, conf=MAP_CONF, iou=MAP_IOU, max_det=MAP_MAX_DET)
        probs = models.lesion_probabilities(imgs)
        routed = router.classify(imgs) if router is not None else [None] * len(imgs)
        for r, im, lo, c, p, rt in zip(chunk, imgs, low, cands, probs, routed):
            h, w = im.shape[:2]
            li = models.segmenter.classes.index("lesion") if "lesion" in models.segmenter.classes else -1
            out.append({"row": r, "gt": read_boxes(r.label, w, h), "low": lo, "cands": c,
                        "lesion_prob": cv2.resize(p[li], (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float16),
                        "shape": im.shape, "routed": rt})
        if log:
            log(f"  evaluated {len(out)}/{len(rows)}")
    return out


def skin_metrics(models, items: list[dict]) -> dict:
    """The metrics of the module docstring from ``collect``'s output."""
    from inference.evaluate import classification_metrics
    from inference.pipeline.face import FusionParams, fuse
    from inference.pipeline.types import UNCERTAIN

    g = models.grader
    ap = average_precision([(*_boxes(it["low"]), it["gt"]) for it in items])
    alone, fused, truth, guess, final, t4, p4, counts, levels = [], [], [], [], [], [], [], [], []
    for it in items:
        a, _ = fuse(it["cands"], it["lesion_prob"], g.conf, FusionParams())
        f, _ = fuse(it["cands"], it["lesion_prob"], g.conf, g.fusion)
        alone.append((*_boxes(a), it["gt"]))
        fused.append((*_boxes(f), it["gt"]))
        n = len(f) if models.use_fusion else len(a)
        gr = g.grade(n)
        r = it["row"]
        truth.append(r.grade3)
        guess.append(gr.best_guess)
        final.append(gr.grade)
        t4.append(r.level)
        p4.append(g.level(n))
        counts.append(n)
        levels.append(len(it["gt"]))
    pa, pf = precision_recall(alone), precision_recall(fused)
    cm = classification_metrics(truth, guess)
    cm4 = classification_metrics([str(v) for v in t4], [str(v) for v in p4], labels=("0", "1", "2", "3"))
    sure = [k for k, v in enumerate(final) if v != UNCERTAIN]
    routed = [it["routed"] for it in items if it["routed"] is not None]
    counts, levels = np.array(counts), np.array(levels)
    return {
        "n": len(items),
        "map50": ap["map50"], "map50_95": ap["map50_95"],
        "precision": pa["precision"], "recall": pa["recall"],
        "fusion_precision": pf["precision"], "fusion_recall": pf["recall"],
        "grade_accuracy": cm["accuracy"],
        "routing_accuracy": round(float(np.mean([d == "face" for d in routed])), 4) if routed else None,
        # details
        "operating_conf": g.conf, "fusion_used": bool(models.use_fusion), "fusion_params": g.fusion.__dict__,
        "detector_at_operating_point": pa, "fusion_at_operating_point": pf,
        "ultralytics_p_r_best_f1": {"precision": ap["p_best_f1"], "recall": ap["r_best_f1"]},
        "grade_macro_f1": cm["macro_f1"], "grade_confusion": cm["confusion"],
        "grade_accuracy4": cm4["accuracy"], "grade_confusion4": cm4["confusion"],
        "uncertain_rate": round(1 - len(sure) / max(len(final), 1), 4),
        "accuracy_when_certain": round(float(np.mean([truth[k] == final[k] for k in sure])), 4) if sure else None,
        "count_vs_labels": {"mean_abs_error": round(float(np.abs(counts - levels).mean()), 2) if len(counts) else None,
                            "mean_counted": round(float(counts.mean()), 2) if len(counts) else None,
                            "mean_labelled": round(float(levels.mean()), 2) if len(levels) else None},
        "routed": {d: routed.count(d) for d in sorted(set(routed))} if routed else None,
    }


def load_router(directory: Path | None, device: str = "cpu"):
    from inference.pipeline.route import load_router as load

    return load(directory, device)


KEYS = ("n", "map50", "map50_95", "precision", "recall", "fusion_precision", "fusion_recall", "grade_accuracy", "routing_accuracy")


def main(a) -> int:
    """The ``skin`` subcommand (arguments parsed by ``inference.evaluate``)."""
    from inference.pipeline.face import FaceModels
    from inference.train.skin_labels import read_acne_index

    if not (Path(a.data) / "image_severity.csv").exists():
        print(f"no image_severity.csv under {a.data}", file=sys.stderr)
        return 2
    rows = read_acne_index(Path(a.data), a.split)
    if not rows:
        print(f"no labelled images found under {a.data}", file=sys.stderr)
        return 2
    models = FaceModels.load(a.weights, device=a.device)
    router = load_router(a.weights, a.device)
    items_all = []
    for split in sorted({r.split for r in rows}):
        items = collect(models, [r for r in rows if r.split == split], router=router)
        items_all += items
        m = skin_metrics(models, items)
        print(f"[{split}] " + json.dumps({k: m[k] for k in KEYS}))
        print(f"[{split}] operating conf {m['operating_conf']}, fusion used: {m['fusion_used']}; detector alone "
              f"{json.dumps(m['detector_at_operating_point'])}; with fusion {json.dumps(m['fusion_at_operating_point'])}")
        print(f"[{split}] grade: accuracy {m['grade_accuracy']} (4 levels: {m['grade_accuracy4']}), uncertain "
              f"{m['uncertain_rate']}, confusion (rows true, cols predicted {list(GRADES)}): {m['grade_confusion']['matrix']}")
        if getattr(a, "details", False):
            print(f"[{split}] 4-level confusion: {m['grade_confusion4']['matrix']}; counts {json.dumps(m['count_vs_labels'])}; "
                  f"routed {m['routed']}; Ultralytics-style P/R at best F1 {m['ultralytics_p_r_best_f1']}")
    total = skin_metrics(models, items_all)
    print(json.dumps({k: total[k] for k in KEYS}))
    return 0
