"""The face (acne) evaluation on an ACNE04-style folder.

* ``map50``, ``map50_95``: the detector alone, ranked as Ultralytics' validator ranks
  them (greedy matching by confidence, 101-point interpolated AP, at most 300 per
  photo), so they compare with the baseline measured with ``model.val``. The boxes:
  with NMS (the grader's ``merge.method`` "nms") Ultralytics' own (from confidence 0.001,
  NMS IoU 0.7); with weighted box clustering ("cluster") the product's own clusters,
  exactly as ``FaceChain`` makes them;
* ``precision``, ``recall``: the detector alone at the product's operating point
  (confidence ``conf`` and the grader's merge, a match at IoU 0.5);
  ``fusion_precision``, ``fusion_recall``: the same boxes plus what the U-Net adds
  (``inference.pipeline.face.count.fuse``), at the same operating point, whether or not
  the product uses the fusion (``fusion_used`` says);
* ``grade_accuracy``: LOW / MIDDLE / HIGH from the lesion count (the best guess, also
  when the answer is UNCERTAIN) against ``grade3``; the 4-level Hayashi accuracy (ACNE04
  paper: 84.11%) is printed beside it;
* ``routing_accuracy``: the share of the photos the router sends to the face chain
  (null without the router's weights).
"""
from __future__ import annotations

import json
import sys
from argparse import Namespace
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from inference.datasets import AcneRow, read_acne_index, read_boxes
from inference.models.router import Router
from inference.models.yolo import YoloDetector, postprocess
from inference.pipeline.face.chain import FaceChain
from inference.pipeline.face.count import FusionParams, fuse
from inference.pipeline.face.segment import lesion_index
from inference.service.domains import load_face, load_router
from inference.types import GRADES, UNCERTAIN

from .metrics import (
    MAP_CONF,
    MAP_IOU,
    MAP_MAX_DET,
    average_precision,
    boxes_of,
    classification_metrics,
    confidence_report,
    coverage_line,
    precision_recall,
)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def detector_passes(detector: YoloDetector, rows: list[AcneRow], batch: int = 8) -> Iterator[tuple]:
    """Per chunk of ``batch`` photos of ``rows``: the chunk, the photos as RGB, and the
    detector's raw output and letterbox metas from one forward pass."""
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        imgs = [read_rgb(r.image) for r in chunk]
        x, metas = detector.preprocess(imgs)
        yield chunk, imgs, detector.forward(x), metas


def collect(chain: FaceChain, rows: list[AcneRow], batch: int = 8, router: Router | None = None,
            log: Callable[[str], None] | None = None) -> list[dict]:
    """Per photo: the product's analysis pieces, low-confidence detections for mAP, the truth."""
    det = chain.detector
    merge = chain.grader.merge
    floor = min(merge.candidate_conf, chain.grader.conf)
    li = lesion_index(chain.unet.classes)
    out = []
    for chunk, imgs, raw, metas in detector_passes(det, rows, batch):
        cands = postprocess(raw, metas, det.names, conf=floor, iou=merge.iou, max_det=MAP_MAX_DET, merge=merge.method)
        low = cands if merge.method == "cluster" else postprocess(raw, metas, det.names, conf=MAP_CONF, iou=MAP_IOU,
                                                                  max_det=MAP_MAX_DET)
        probs = chain.lesion_probabilities(imgs)
        routed = router.classify(imgs) if router is not None else [None] * len(imgs)
        for r, im, lo, c, p, rt in zip(chunk, imgs, low, cands, probs, routed):
            h, w = im.shape[:2]
            out.append({"row": r, "gt": read_boxes(r.label, w, h), "low": lo, "cands": c,
                        "lesion_prob": cv2.resize(p[li], (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float16),
                        "shape": im.shape, "routed": rt})
        if log:
            log(f"  evaluated {len(out)}/{len(rows)}")
    return out


def face_metrics(chain: FaceChain, items: list[dict]) -> dict:
    """The metrics of the module docstring from ``collect``'s output."""
    g = chain.grader
    ap = average_precision([(*boxes_of(it["low"]), it["gt"]) for it in items])
    alone, fused, truth, guess, final, t4, p4, counts, levels = [], [], [], [], [], [], [], [], []
    confs: list[float] = []
    for it in items:
        a, _ = fuse(it["cands"], it["lesion_prob"], g.conf, FusionParams())
        f, _ = fuse(it["cands"], it["lesion_prob"], g.conf, g.fusion)
        alone.append((*boxes_of(a), it["gt"]))
        fused.append((*boxes_of(f), it["gt"]))
        n = len(f) if chain.use_fusion else len(a)
        gr = g.grade(n)
        r = it["row"]
        truth.append(r.grade3)
        guess.append(gr.best_guess)
        final.append(gr.grade)
        confs.append(gr.confidence)
        t4.append(r.level)
        p4.append(g.level(n))
        counts.append(n)
        levels.append(len(it["gt"]))
    pa, pf = precision_recall(alone), precision_recall(fused)
    cm = classification_metrics(truth, guess)
    cm4 = classification_metrics([str(v) for v in t4], [str(v) for v in p4], labels=("0", "1", "2", "3"))
    sure = [k for k, v in enumerate(final) if v != UNCERTAIN]
    routed = [it["routed"] for it in items if it["routed"] is not None]
    c, lv = np.array(counts), np.array(levels)
    return {
        "n": len(items),
        "map50": ap["map50"], "map50_95": ap["map50_95"],
        "precision": pa["precision"], "recall": pa["recall"],
        "fusion_precision": pf["precision"], "fusion_recall": pf["recall"],
        "grade_accuracy": cm["accuracy"],
        "routing_accuracy": round(float(np.mean([d == "face" for d in routed])), 4) if routed else None,
        # details
        "operating_conf": g.conf, "fusion_used": bool(chain.use_fusion), "fusion_params": g.fusion.__dict__,
        "detector_at_operating_point": pa, "fusion_at_operating_point": pf,
        "ultralytics_p_r_best_f1": {"precision": ap["p_best_f1"], "recall": ap["r_best_f1"]},
        "grade_macro_f1": cm["macro_f1"], "grade_confusion": cm["confusion"],
        "grade_accuracy4": cm4["accuracy"], "grade_confusion4": cm4["confusion"],
        "uncertain_rate": round(1 - len(sure) / max(len(final), 1), 4),
        "accuracy_when_certain": round(float(np.mean([truth[k] == final[k] for k in sure])), 4) if sure else None,
        "confidence": confidence_report(confs, [t == p for t, p in zip(truth, guess)]),
        "count_vs_labels": {"mean_abs_error": round(float(np.abs(c - lv).mean()), 2) if len(c) else None,
                            "mean_counted": round(float(c.mean()), 2) if len(c) else None,
                            "mean_labelled": round(float(lv.mean()), 2) if len(lv) else None},
        "routed": {d: routed.count(d) for d in sorted(set(routed))} if routed else None,
    }


SUMMARY_KEYS = ("n", "map50", "map50_95", "precision", "recall", "fusion_precision", "fusion_recall",
                "grade_accuracy", "routing_accuracy")


def main(a: Namespace, settings) -> int:
    """The ``face`` subcommand; the last line printed is one JSON object of ``SUMMARY_KEYS``."""
    if not (Path(a.data) / "image_severity.csv").exists():
        print(f"no image_severity.csv under {a.data}", file=sys.stderr)
        return 2
    rows = read_acne_index(Path(a.data), a.split)
    if not rows:
        print(f"no labelled images found under {a.data}", file=sys.stderr)
        return 2
    chain = load_face(settings.weights, settings.runtime())
    router = load_router(settings.weights, settings.runtime())
    items_all = []
    for split in sorted({r.split for r in rows}):
        items = collect(chain, [r for r in rows if r.split == split], router=router)
        items_all += items
        m = face_metrics(chain, items)
        print(f"[{split}] " + json.dumps({k: m[k] for k in SUMMARY_KEYS}))
        print(f"[{split}] operating conf {m['operating_conf']}, fusion used: {m['fusion_used']}; detector alone "
              f"{json.dumps(m['detector_at_operating_point'])}; "
              f"with fusion {json.dumps(m['fusion_at_operating_point'])}")
        print(f"[{split}] grade: accuracy {m['grade_accuracy']} (4 levels: {m['grade_accuracy4']}), uncertain "
              f"{m['uncertain_rate']}, confusion (rows true, cols predicted {list(GRADES)}): "
              f"{m['grade_confusion']['matrix']}")
        print(f"[{split}] " + coverage_line(m["confidence"]))
        if a.details:
            print(f"[{split}] 4-level confusion: {m['grade_confusion4']['matrix']}; counts "
                  f"{json.dumps(m['count_vs_labels'])}; routed {m['routed']}; Ultralytics-style P/R at best F1 "
                  f"{m['ultralytics_p_r_best_f1']}")
    total = face_metrics(chain, items_all)
    print(json.dumps({k: total[k] for k in SUMMARY_KEYS}))
    return 0
