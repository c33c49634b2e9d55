"""`python -m inference.train face`: labels, lesion YOLO, lesion U-Net, fusion, grader, router, exports, metrics.

Stages (each timed, figures in ``build/face/run.json`` and printed), one module each:
1. ``labels`` (``labels.py``): the YOLO set (train split minus a calibration fold), lesion
   masks (an ellipse in each box), label statistics, a contact sheet;
2. ``yolo`` (``detector.py``): YOLO (one class) fine-tuned from ``yolov5nu_coco_backbone-neck.pt``;
3. ``unet`` (``segmenter.py``): U-Net (background / lesion) on native-resolution tiles,
   encoder from the ImageNet MobileNetV2;
4. ``calibration`` (``calibration.py``, ``grader.py``) on the fold the detector never
   trained on: how overlapping boxes are merged (NMS or weighted box clustering, best
   mAP50), the operating confidence (best F1), the fusion (kept only if it raises F1
   there), the count thresholds and the UNCERTAIN confidence (``face_grader.json``);
5. ``router`` (``inference.train.router``): scalp / face / neither on scalp_uze + ACNE04 +
   a code-made set;
6. ``export`` (``export.py``): ONNX exports (fp16 weights) and the int8 detector into ``weights/``;
7. ``evaluate`` (``evaluate.py``): the valid split as the service runs it (``inference.evaluate.face``),
   then the model card's face section (``card.py``, ``card.md.j2``) and ``face_metrics.json``.

Defaults fit a 2-core CPU in about an hour (measured: a YOLO epoch at 640 px,
batch 16, 792 photos, 4.8 min + 0.5 min validation; a U-Net step 3.4 s; router
features 6.5 min; calibration 1.5 min; evaluation 2 min), which is far too short
for the detector: a GPU run should use ``--epochs 150 --batch 32 --seg-steps 3000
--router-finetune 600 --workers 8``.
"""
from __future__ import annotations

import argparse
import time

from ..router import keep_router, router_stage
from .calibration import calibration_stage
from .card import card_fields, write_model_card
from .context import start
from .detector import detector_stage
from .evaluate import evaluate_stage, write_metrics
from .export import export_stage
from .labels import labels_stage, read_photos
from .segmenter import segmenter_stage


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imgsz", type=int, default=640, help="YOLO input size (px): ACNE04 was labelled at 640")
    p.add_argument("--epochs", type=int, default=8,
                   help="YOLO epochs (CPU default: about 5.3 min each on 2 cores; 150 on a GPU)")
    p.add_argument("--batch", type=int, default=16, help="YOLO batch size")
    p.add_argument("--mosaic", type=float, default=1.0, help="YOLO mosaic probability")
    p.add_argument("--close-mosaic", type=int, default=3, help="YOLO epochs without mosaic at the end")
    p.add_argument("--segmenter", default=None, help="use this trained U-Net checkpoint instead of training one")
    p.add_argument("--seg-size", type=int, default=256, help="U-Net training crop size (px)")
    p.add_argument("--seg-tile", type=int, default=320,
                   help="U-Net training tiles cut from the photos (px, native resolution)")
    p.add_argument("--seg-infer-size", type=int, default=512, help="U-Net input size at run time (px, whole photo)")
    p.add_argument("--seg-steps", type=int, default=100,
                   help="U-Net steps (batches of 16; about 3.4 s each on 2 CPU cores)")
    p.add_argument("--router-copies", type=int, default=2, help="augmented copies per photo for the router head")
    p.add_argument("--router-finetune", type=int, default=0,
                   help="router fine-tuning steps after the head (0: head only)")
    p.add_argument("--skip-router", action="store_true", help="keep the router in the weights folder as it is")
    p.add_argument("--router-only", action="store_true", help="train the router only")
    p.add_argument("--limit", type=int, default=0, help="use only N photos per split and source (smoke tests)")
    p.add_argument("--sheets", type=int, default=48, help="photos on the contact sheet")
    p.add_argument("--imgsz-diagnostic", type=int, nargs="*", default=[],
                   help="also report the valid mAP at these run-time sizes (e.g. 640 704 736; diagnostic only)")
    p.add_argument("--box-merge", choices=("auto", "nms", "cluster"), default="auto",
                   help="how overlapping boxes merge: "
                        "auto = the best mAP50 on the calibration fold (NMS or clustering)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> dict:
    state = start(args)
    log = state.log
    if args.router_only:
        with log.timed("router"):
            router_stage(args, state.shared, state.out, state.device, log, state.encoder)
        log.set("total_minutes", round((time.time() - state.started) / 60, 1))
        return log.data
    photos = read_photos(state)
    with log.timed("labels"):
        data = labels_stage(state, photos)
    with log.timed("yolo"):
        detector_stage(state, data)
    with log.timed("unet"):
        segmenter_stage(state, photos)
    with log.timed("calibration"):
        grader = calibration_stage(state, photos)
    if args.skip_router:
        keep_router(state.out, log)
    else:
        with log.timed("router"):
            router_stage(args, state.shared, state.out, state.device, log, state.encoder)
    with log.timed("export"):
        export_stage(state, photos)
    with log.timed("evaluate"):
        metrics = evaluate_stage(state, photos)
    write_model_card(state.out, card_fields(args, grader, metrics, log.data.get("router") or {}))
    write_metrics(state)
    return log.data
