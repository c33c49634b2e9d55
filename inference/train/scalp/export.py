"""The scalp networks' ONNX exports (fp16 weights) and their int8 twins for the CPU."""
from __future__ import annotations

import shutil
from pathlib import Path

from inference.artifacts import FACE_FINDER, SCALP_CNN, SCALP_DETECTOR, SCALP_SEGMENTER, SCALP_VIEW
from inference.models.onnx_export import store_weights_fp16
from inference.models.unet import export_onnx as export_unet_onnx
from inference.models.unet import load_unet

from ..int8 import quantize_exported, quantize_scalp_cnn, quantize_scalp_segmenter, quantize_scalp_view
from ..yolo_trainer import export_onnx as export_yolo_onnx
from .context import ScalpRun

YUNET = "pretrained/yunet"  # the shipped face finder's source in the shared data (not trained here)


def ship_face_finder(run: ScalpRun) -> None:
    """Put the face finder and its licence beside the trained files (the scalp domain loads it),
    its weights stored in fp16 as every network this project ships (``store_weights_fp16``; on
    the 598 scalp_uze photos the same faces, scores within 0.005)."""
    src = run.shared / YUNET
    if not (run.out / FACE_FINDER).is_file():
        shutil.copyfile(src / FACE_FINDER, run.out / FACE_FINDER)
        store_weights_fp16(run.out / FACE_FINDER)
    if not (run.out / "yunet.LICENSE").is_file():
        shutil.copyfile(src / "LICENSE", run.out / "yunet.LICENSE")


def export_stage(run: ScalpRun) -> None:
    out = run.out
    ship_face_finder(run)
    b = load_unet(out / SCALP_SEGMENTER)
    export_unet_onnx(b.net, b.cfg, out / "scalp_unet.onnx", half=True, meta=b.meta)
    export_yolo_onnx(out / SCALP_DETECTOR, run.args.imgsz, out / "scalp_yolo.onnx")
    photos = [Path(r["path"]) for r in run.train_rows]  # int8 calibration: train photos only
    cnn, view = (out / SCALP_CNN).with_suffix(".onnx"), (out / SCALP_VIEW).with_suffix(".onnx")
    run.log.set("int8", {"detector": quantize_exported(out / "scalp_yolo.onnx", photos),
                         "segmenter": quantize_scalp_segmenter(out, photos),
                         "grade_cnn": quantize_scalp_cnn(out, photos) if cnn.is_file() else None,
                         "view": quantize_scalp_view(out, photos) if view.is_file() else None})
    run.log.set("weights_mb", {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(out.glob("scalp_*"))})
