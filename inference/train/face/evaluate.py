"""The face valid split graded as the service grades it, diagnostics, and the run's metrics file."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from inference.artifacts import FACE_DETECTOR, FACE_METRICS
from inference.datasets import read_boxes
from inference.evaluate.face import collect, detector_passes, face_metrics
from inference.evaluate.metrics import MAP_CONF, MAP_IOU, MAP_MAX_DET, average_precision, boxes_of
from inference.models.onnx_runtime import Backend
from inference.models.yolo import YoloDetector, postprocess
from inference.service.domains import load_face, load_router

from ..common import read_rgb
from .context import FaceRun
from .labels import FacePhotos, write_contact_sheet

# what face_metrics.json keeps of the run log
METRICS_KEYS = ("device", "timings_s", "total_minutes", "labels", "calibration", "router", "weights_mb",
                "valid_metrics", "valid_map_by_imgsz_diagnostic")


def evaluate_stage(run: FaceRun, photos: FacePhotos) -> dict:
    """The valid split through the models as the service loads them (ONNX where present),
    routed by the router; the detector's mAP at other run-time sizes where asked
    (``--imgsz-diagnostic``); the valid contact sheet with the predicted boxes (cyan)
    beside the labels (yellow), for the failure analysis."""
    a, valid = run.args, photos.valid
    backend = Backend(run.device)
    chain = load_face(run.out, backend)
    metrics = face_metrics(chain, collect(chain, valid, router=load_router(run.out, backend)))
    run.log.set("valid_metrics", metrics)
    if a.imgsz_diagnostic:
        run.log.set("valid_map_by_imgsz_diagnostic",
                    map_by_imgsz(run.out / FACE_DETECTOR, valid, a.imgsz_diagnostic, run.device))
    shown = valid[: max(a.sheets, 1)]
    preds = {}
    for r in shown:
        found = chain.analyze([read_rgb(r.image)])[0]
        boxes = [[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in found.detections]
        preds[r.filename] = np.array(boxes).reshape(-1, 4)
    write_contact_sheet(shown, run.build / "sheets" / "face_valid_predicted.png", a.sheets, a.seed, preds)
    return metrics


def map_by_imgsz(weights: Path, rows, sizes, device: str, batch: int = 8) -> dict:
    """Diagnostic only (never used to choose anything): the detector's mAP on ``rows`` at
    several run-time input sizes. ACNE04's train photos are enlarged copies (median box side
    31.5 px against 26.9 px in valid); a larger run-time size shows whether that shift costs."""
    out = {}
    for size in sizes:
        det = YoloDetector(weights, Backend.torch(device), imgsz=size)
        per = []
        for chunk, imgs, raw, metas in detector_passes(det, rows, batch):
            for r, im, d in zip(chunk, imgs, postprocess(raw, metas, det.names, MAP_CONF, MAP_IOU, MAP_MAX_DET)):
                per.append((*boxes_of(d), read_boxes(r.label, im.shape[1], im.shape[0])))
        out[str(size)] = average_precision(per)
    return out


def write_metrics(run: FaceRun) -> None:
    """``face_metrics.json`` beside the weights: the run's figures and its arguments."""
    run.log.set("total_minutes", round((time.time() - run.started) / 60, 1))
    args = {k: v for k, v in vars(run.args).items() if k not in ("shared", "out", "build", "func")}
    (run.out / FACE_METRICS).write_text(json.dumps({k: run.log.data.get(k) for k in METRICS_KEYS} | {"args": args},
                                                   indent=1, ensure_ascii=False, default=float))
