"""Calibration of the face chain on the fold the detector never trained on: how
overlapping boxes merge (NMS or weighted box clustering, best mAP50), the operating
confidence (best F1), the U-Net fusion (kept only if it raises F1 there), then the count
grader (``face_grader.json``)."""
from __future__ import annotations

import json
import time

import numpy as np

from inference.artifacts import FACE_DETECTOR, FACE_GRADER, FACE_SEGMENTER
from inference.datasets import read_boxes
from inference.evaluate.face import collect, detector_passes
from inference.evaluate.metrics import MAP_CONF, MAP_IOU, MAP_MAX_DET, average_precision, boxes_of, precision_recall
from inference.models.onnx_runtime import Backend
from inference.models.unet import load_unet
from inference.models.yolo import YoloDetector, peak_score, postprocess
from inference.pipeline.face.chain import FaceChain
from inference.pipeline.face.count import FusionParams, fuse
from inference.pipeline.face.detect import BoxMerge
from inference.pipeline.face.grade import CountGrader

from .context import FaceRun
from .grader import fit_count_grader
from .labels import FacePhotos

CONF_GRID = tuple(np.round(np.arange(0.05, 0.651, 0.025), 3))
# weighted box clustering: the raw boxes from this confidence join clusters at these IoUs
MERGE_GRID = tuple(BoxMerge("cluster", iou, 0.005) for iou in (0.45, 0.5, 0.55, 0.65))
FUSION_GRID = {"confirm_prob": (2.0, 0.3, 0.4, 0.5, 0.6, 0.7), "blob_prob": (2.0, 0.5, 0.6, 0.7, 0.8, 0.9),
               "blob_min_area": (40.0, 120.0)}
FUSION_MIN_GAIN = 0.005  # F1 on the calibration fold the fusion must add to be used


def choose_conf(items: list[dict], grid=CONF_GRID) -> tuple[float, list]:
    """The detector confidence with the best F1 (IoU 0.5) on the calibration fold."""
    table = []
    for c in grid:
        per = []
        for it in items:
            kept = [d for d in it["cands"] if peak_score(d) >= c]
            per.append((*boxes_of(kept), it["gt"]))
        table.append((float(c), precision_recall(per)))
    best = max(table, key=lambda t: (t[1]["f1"], -abs(t[0] - 0.25)))
    return best[0], table


def choose_merge(detector, rows, grid=MERGE_GRID, batch: int = 8) -> tuple[BoxMerge, list]:
    """NMS (as the evaluation's mAP counts it, Ultralytics' way) or weighted box clustering
    at one of ``grid``'s IoUs: whichever gives the best mAP50 on ``rows`` (the calibration
    fold). One forward pass per photo; each candidate only re-runs the post-processing."""
    passes = []
    for chunk, imgs, raw, metas in detector_passes(detector, rows, batch):
        raw = raw if isinstance(raw, np.ndarray) else raw.detach().float().cpu().numpy()
        passes.append((raw, metas, [read_boxes(r.label, im.shape[1], im.shape[0]) for r, im in zip(chunk, imgs)]))

    def score(method: str, iou: float, conf: float) -> dict:
        per = []
        for raw, metas, gts in passes:
            dets = postprocess(raw, metas, detector.names, conf=conf, iou=iou, max_det=MAP_MAX_DET, merge=method)
            per += [(*boxes_of(d), gt) for d, gt in zip(dets, gts)]
        return average_precision(per)

    # NMS is scored as the evaluation scores it (IoU 0.7 from 0.001); the product then keeps
    # its own NMS (BoxMerge(): IoU 0.5) for the lesions it counts
    table = [(BoxMerge("nms", MAP_IOU, MAP_CONF), score("nms", MAP_IOU, MAP_CONF))]
    table += [(m, score(m.method, m.iou, m.candidate_conf)) for m in grid]
    best = max(table, key=lambda t: t[1]["map50"] or 0.0)[0]
    return (BoxMerge() if best.method == "nms" else best), table


def choose_fusion(items: list[dict], conf: float) -> tuple[FusionParams, dict]:
    """The fusion parameters with the best F1 at ``conf``; used only when they beat the detector alone."""

    def score(params: FusionParams) -> dict:
        per = []
        for it in items:
            f, _ = fuse(it["cands"], it["lesion_prob"], conf, params)
            per.append((*boxes_of(f), it["gt"]))
        return precision_recall(per)

    alone = score(FusionParams())
    best, best_m = FusionParams(), alone
    for cp in FUSION_GRID["confirm_prob"]:
        for bp in FUSION_GRID["blob_prob"]:
            for area in FUSION_GRID["blob_min_area"] if bp <= 1 else (40.0,):
                params = FusionParams(False, cp, bp, area)
                if not params.active:
                    continue
                m = score(params)
                if m["f1"] > best_m["f1"]:
                    best, best_m = params, m
    gain = best_m["f1"] - alone["f1"]
    enabled = bool(best.active and gain >= FUSION_MIN_GAIN)
    chosen = FusionParams(enabled, best.confirm_prob, best.blob_prob, best.blob_min_area)
    return chosen, {"detector_alone": alone, "best_fusion": best_m, "f1_gain": round(gain, 4), "enabled": enabled}


def counts_for(items: list[dict], conf: float, params: FusionParams) -> np.ndarray:
    """Lesions counted in each photo at ``conf``, with the fusion where it is enabled."""
    used = params if params.enabled else FusionParams()
    return np.array([len(fuse(it["cands"], it["lesion_prob"], conf, used)[0]) for it in items])


def calibration_stage(run: FaceRun, photos: FacePhotos) -> CountGrader:
    """Choose the merge, the confidence and the fusion on ``photos.calib``, fit the count
    grader there and write it; returns it."""
    rows = photos.calib
    detector = YoloDetector(run.out / FACE_DETECTOR, Backend.torch(run.device))
    merge, merge_table = choose_merge(detector, rows)
    if run.args.box_merge == "nms":
        merge = BoxMerge()
    elif run.args.box_merge == "cluster" and merge.method != "cluster":
        merge = max((t for t in merge_table if t[0].method == "cluster"), key=lambda t: t[1]["map50"] or 0.0)[0]
    run.log.set("box_merge", {"chosen": merge.__dict__, "table": [(m.__dict__, r) for m, r in merge_table]})
    print("  box merge on the calibration fold (mAP50):",
          ", ".join(f"{m.method} {m.iou}: {r['map50']}" for m, r in merge_table), "->", merge)
    # a provisional grader: low operating confidence so every candidate is kept for the grids
    chain = FaceChain(detector, load_unet(run.out / FACE_SEGMENTER, Backend.torch(run.device)),
                      CountGrader(conf=0.05, merge=merge))
    items = collect(chain, rows)
    conf, conf_table = choose_conf(items)
    fusion, fusion_report = choose_fusion(items, conf)
    counts = counts_for(items, conf, fusion)
    levels = np.array([it["row"].level for it in items])
    grader = fit_count_grader(counts, levels, conf, fusion, merge)
    predicted = [grader.level(c) for c in counts]
    grader.meta = {"calibration_photos": len(items), "trained": time.strftime("%Y-%m-%d"),
                   "calibration_accuracy3": accuracy([min(p, 2) == min(lv, 2) for p, lv in zip(predicted, levels)]),
                   "calibration_accuracy4": accuracy([p == lv for p, lv in zip(predicted, levels)])}
    (run.out / FACE_GRADER).write_text(json.dumps(grader.to_json(), indent=1))
    run.log.set("calibration", {"conf": conf,
                                "conf_table": [(c, m["precision"], m["recall"], m["f1"]) for c, m in conf_table],
                                "fusion": fusion_report, "fusion_params": fusion.__dict__, "grader": grader.to_json()})
    return grader


def accuracy(hits: list[bool]) -> float | None:
    return round(float(np.mean(hits)), 4) if len(hits) else None
