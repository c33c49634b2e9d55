"""The face networks' ONNX exports (fp16 weights) and the detector's int8 twin for the CPU."""
from __future__ import annotations

from pathlib import Path

from inference.artifacts import FACE_DETECTOR, FACE_SEGMENTER
from inference.models.unet import export_onnx as export_unet_onnx
from inference.models.unet import load_unet

from ..int8 import quantize_exported
from ..yolo_trainer import export_onnx as export_yolo_onnx
from .context import FaceRun
from .labels import FacePhotos


def export_stage(run: FaceRun, photos: FacePhotos) -> None:
    out = run.out
    b = load_unet(out / FACE_SEGMENTER)
    export_unet_onnx(b.net, b.cfg, out / "face_unet.onnx", half=True, meta=b.meta)
    export_yolo_onnx(out / FACE_DETECTOR, run.args.imgsz, out / "face_yolo.onnx")
    # int8 calibration: train photos only
    run.log.set("int8", quantize_exported(out / "face_yolo.onnx", [Path(r.image) for r in photos.train]))
    weights = sorted(list(out.glob("face_*")) + list(out.glob("router*")))
    run.log.set("weights_mb", {p.name: round(p.stat().st_size / 1e6, 2) for p in weights})
