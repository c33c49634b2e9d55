"""`python -m inference.train quantize`: the int8 twins of the shipped detectors, the scalp
U-Net, the scalp grade CNN and view classifier, and the router, for the CPU.

The training commands run the same step at export (``quantize_exported``); this command
re-makes the int8 files from the weights in ``--out`` without re-training, calibrated on
photos spread evenly over each dataset's train split (never the valid split the metrics
come from). See ``inference/models/quantize.py`` for what is quantized and why.
"""
from __future__ import annotations

import ast
import time
from pathlib import Path

from inference.artifacts import SCALP_CNN, SCALP_SEGMENTER, SCALP_VIEW
from inference.models.onnx_runtime import Backend, OnnxModule, int8_path
from inference.models.quantize import calibration_photos, quantize_detector

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

# detector export -> its train photos under ../shared/datasets
DETECTORS = {
    "scalp_yolo.onnx": "scalp_uze/train",
    "face_yolo.onnx": "acne04/train/images",
}


def train_photos(shared: Path, export_name: str) -> list[Path]:
    folder = Path(shared) / "datasets" / DETECTORS[export_name]
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def quantize_exported(onnx_path: Path, photo_paths: list[Path]) -> dict:
    """The int8 twin of one detector export; its input size from the export's metadata."""
    onnx_path = Path(onnx_path)
    imgsz = int(ast.literal_eval(OnnxModule(onnx_path).metadata.get("imgsz", "[640, 640]"))[0])
    t0 = time.time()
    photos = calibration_photos(photo_paths)
    dst = quantize_detector(onnx_path, photos, imgsz)
    return {"file": dst.name, "photos": len(photos), "imgsz": imgsz, "seconds": round(time.time() - t0, 1),
            "mb": round(dst.stat().st_size / 1e6, 2)}


def quantize_scalp_segmenter(weights: Path, photo_paths: list[Path]) -> dict:
    """The int8 twin of ``scalp_unet.onnx``, calibrated on the head regions that the scalp
    models (as the product runs them) find in the calibration photos."""
    from inference.models.quantize import quantize_segmenter
    from inference.service.domains import load_scalp

    t0 = time.time()
    models = load_scalp(Path(weights), Backend())
    crops = []
    for im in calibration_photos(photo_paths):
        _, dets = models.regions([im])[0]
        crops += [c for _, c in models.segmenter.crops(im, dets)]
    onnx = Path(weights) / Path(SCALP_SEGMENTER).with_suffix(".onnx").name
    dst = quantize_segmenter(onnx, crops, models.segmenter.size)
    return {"file": dst.name, "crops": len(crops), "size": models.segmenter.size, "seconds": round(time.time() - t0, 1),
            "mb": round(dst.stat().st_size / 1e6, 2)}


def quantize_scalp_cnn(weights: Path, photo_paths: list[Path]) -> dict:
    """The int8 twin of ``scalp_cnn.onnx`` (the grade CNN), calibrated on the head crops that
    the scalp models find in the calibration photos; its classifier stays float."""
    from inference.models.quantize import quantize_classifier
    from inference.service.domains import load_scalp

    t0 = time.time()
    models = load_scalp(Path(weights), Backend())
    images = calibration_photos(photo_paths)
    crops = models.cnn_crops(images)  # face-free where the CNN's config says so
    size = models.classifier.size if models.classifier is not None else 224
    if models.classifier is not None:  # calibrate on what the network sees (its test-time view)
        crops = [models.classifier.view(c) for c in crops]
    dst = quantize_classifier(Path(weights) / Path(SCALP_CNN).with_suffix(".onnx").name, crops, size)
    return {"file": dst.name, "crops": len(crops), "size": size, "seconds": round(time.time() - t0, 1),
            "mb": round(dst.stat().st_size / 1e6, 2)}


def quantize_scalp_view(weights: Path, photo_paths: list[Path]) -> dict:
    """The int8 twin of ``scalp_view.onnx`` (the view classifier), calibrated on whole train
    photos (every view: the paths sorted by name interleave them); its classifier stays float."""
    import json

    from inference.models.quantize import quantize_classifier

    t0 = time.time()
    onnx = Path(weights) / Path(SCALP_VIEW).with_suffix(".onnx").name
    size = int(json.loads(OnnxModule(onnx).metadata["config"])["size"])
    photos = calibration_photos(photo_paths)
    dst = quantize_classifier(onnx, photos, size)
    return {"file": dst.name, "photos": len(photos), "size": size, "seconds": round(time.time() - t0, 1),
            "mb": round(dst.stat().st_size / 1e6, 2)}


ROUTER_CALIBRATION_PER_CLASS = 16


def quantize_router(weights: Path, shared: Path, seed: int = 0) -> dict:
    """The int8 twin of ``router.onnx``, calibrated on train photos of both datasets and
    code-made "neither" photos (``ROUTER_CALIBRATION_PER_CLASS`` of each)."""
    from inference.artifacts import ROUTER
    from inference.models.quantize import quantize_classifier
    from inference.models.router import ROUTER_SIZE

    from .router.neither import TRAIN_SEED, neither_set  # here: the router package imports this module

    t0 = time.time()
    n = ROUTER_CALIBRATION_PER_CLASS
    images = (calibration_photos(train_photos(shared, "scalp_yolo.onnx"), n)
              + calibration_photos(train_photos(shared, "face_yolo.onnx"), n)
              + [it.rgb for it in neither_set(n, seed + TRAIN_SEED)])
    dst = quantize_classifier(Path(weights) / Path(ROUTER).with_suffix(".onnx").name, images, ROUTER_SIZE)
    return {"file": dst.name, "images": len(images), "size": ROUTER_SIZE, "seconds": round(time.time() - t0, 1),
            "mb": round(dst.stat().st_size / 1e6, 2)}


def run(shared: Path, out: Path) -> dict:
    done = {}
    for name in DETECTORS:
        src = Path(out) / name
        if not src.is_file():
            print(f"  {name}: not in {out}, skipped")
            continue
        done[name] = quantize_exported(src, train_photos(shared, name))
        print(f"  {name} -> {int8_path(src).name}: {done[name]}", flush=True)
    if (Path(out) / "scalp_unet.onnx").is_file() and (Path(out) / "scalp_yolo.pt").is_file():
        done["scalp_unet.onnx"] = quantize_scalp_segmenter(Path(out), train_photos(shared, "scalp_yolo.onnx"))
        print(f"  scalp_unet.onnx -> scalp_unet.int8.onnx: {done['scalp_unet.onnx']}", flush=True)
    if (Path(out) / "scalp_cnn.onnx").is_file() and (Path(out) / "scalp_yolo.pt").is_file():
        done["scalp_cnn.onnx"] = quantize_scalp_cnn(Path(out), train_photos(shared, "scalp_yolo.onnx"))
        print(f"  scalp_cnn.onnx -> scalp_cnn.int8.onnx: {done['scalp_cnn.onnx']}", flush=True)
    if (Path(out) / "scalp_view.onnx").is_file():
        done["scalp_view.onnx"] = quantize_scalp_view(Path(out), train_photos(shared, "scalp_yolo.onnx"))
        print(f"  scalp_view.onnx -> scalp_view.int8.onnx: {done['scalp_view.onnx']}", flush=True)
    if (Path(out) / "router.onnx").is_file():
        done["router.onnx"] = quantize_router(Path(out), Path(shared))
        print(f"  router.onnx -> router.int8.onnx: {done['router.onnx']}", flush=True)
    return done
