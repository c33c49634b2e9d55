"""`python -m inference.train face`: labels, lesion YOLO, lesion U-Net, fusion, grader, router, exports, metrics.

Stages (each timed, figures in ``build/face/run.json`` and printed):
1. labels: the YOLO set (train split minus a calibration fold), lesion masks
   (an ellipse in each box), label statistics, a contact sheet;
2. YOLO (one class) fine-tuned from ``yolov5nu_coco_backbone-neck.pt``;
3. U-Net (background / lesion) on native-resolution tiles, encoder from the
   ImageNet MobileNetV2;
4. calibration on the fold the detector never trained on: how overlapping boxes
   are merged (NMS or weighted box clustering, best mAP50), the operating
   confidence (best F1), the fusion (kept only if it raises F1 there), the
   count thresholds and the UNCERTAIN confidence (``face_grader.json``);
5. router (scalp / face / neither) on scalp_uze + ACNE04 + a code-made set;
6. weights (fp16) and ONNX exports into ``weights/``, the model card's face section;
7. evaluation on the valid split (``inference.evaluate.face``).

Defaults fit a 2-core CPU in about an hour (measured: a YOLO epoch at 640 px,
batch 16, 792 photos, 4.8 min + 0.5 min validation; a U-Net step 3.4 s; router
features 6.5 min; calibration 1.5 min; evaluation 2 min), which is far too short
for the detector: a GPU run should use ``--epochs 150 --batch 32 --seg-steps 3000
--router-finetune 600 --workers 8``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from inference.artifacts import FACE_DETECTOR, FACE_GRADER, FACE_METRICS, FACE_SEGMENTER, MODEL_CARD, ROUTER, ROUTER_METRICS
from inference.datasets import read_acne_index
from inference.evaluate.face import collect, detector_passes, face_metrics
from inference.evaluate.metrics import MAP_CONF, MAP_IOU, MAP_MAX_DET, average_precision, boxes_of, precision_recall
from inference.models.onnx_runtime import Backend
from inference.models.router import ROUTER_CLASSES, ROUTER_SIZE, Router, save_router
from inference.models.unet import UNetConfig, load_unet, save_unet
from inference.models.unet import export_onnx as export_unet_onnx
from inference.models.yolo import YoloDetector
from inference.pipeline.face.chain import FaceChain
from inference.pipeline.face.count import FusionParams, fuse
from inference.pipeline.face.detect import BoxMerge
from inference.pipeline.face.grade import CountGrader

from . import face_labels as L
from .common import RunLog, device_description, pick_device, seed_everything
from .graders import fit_count_grader
from .unet_trainer import UNetTrainConfig, train_unet
from .yolo_trainer import YoloTrainConfig, export_onnx as export_yolo_onnx, slim_checkpoint, train_yolo

CALIB_FRACTION = 0.2
CONF_GRID = tuple(np.round(np.arange(0.05, 0.651, 0.025), 3))
# weighted box clustering: the raw boxes from this confidence join clusters at these IoUs
MERGE_GRID = tuple(BoxMerge("cluster", iou, 0.005) for iou in (0.45, 0.5, 0.55, 0.65))
FUSION_GRID = {"confirm_prob": (2.0, 0.3, 0.4, 0.5, 0.6, 0.7), "blob_prob": (2.0, 0.5, 0.6, 0.7, 0.8, 0.9),
               "blob_min_area": (40.0, 120.0)}
FUSION_MIN_GAIN = 0.005  # F1 on the calibration fold the fusion must add to be used
CARD_BEGIN, CARD_END = "<!-- face:begin -->", "<!-- face:end -->"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imgsz", type=int, default=640, help="YOLO input size (px): ACNE04 was labelled at 640")
    p.add_argument("--epochs", type=int, default=8, help="YOLO epochs (CPU default: about 5.3 min each on 2 cores; 150 on a GPU)")
    p.add_argument("--batch", type=int, default=16, help="YOLO batch size")
    p.add_argument("--mosaic", type=float, default=1.0, help="YOLO mosaic probability")
    p.add_argument("--close-mosaic", type=int, default=3, help="YOLO epochs without mosaic at the end")
    p.add_argument("--segmenter", default=None, help="use this trained U-Net checkpoint instead of training one")
    p.add_argument("--seg-size", type=int, default=256, help="U-Net training crop size (px)")
    p.add_argument("--seg-tile", type=int, default=320, help="U-Net training tiles cut from the photos (px, native resolution)")
    p.add_argument("--seg-infer-size", type=int, default=512, help="U-Net input size at run time (px, whole photo)")
    p.add_argument("--seg-steps", type=int, default=100, help="U-Net steps (batches of 16; about 3.4 s each on 2 CPU cores)")
    p.add_argument("--router-copies", type=int, default=2, help="augmented copies per photo for the router head")
    p.add_argument("--router-finetune", type=int, default=0, help="router fine-tuning steps after the head (0: head only)")
    p.add_argument("--skip-router", action="store_true", help="keep the router in the weights folder as it is")
    p.add_argument("--router-only", action="store_true", help="train the router only")
    p.add_argument("--limit", type=int, default=0, help="use only N photos per split and source (smoke tests)")
    p.add_argument("--sheets", type=int, default=48, help="photos on the contact sheet")
    p.add_argument("--imgsz-diagnostic", type=int, nargs="*", default=[],
                   help="also report the valid mAP at these run-time sizes (e.g. 640 704 736; diagnostic only)")
    p.add_argument("--box-merge", choices=("auto", "nms", "cluster"), default="auto",
                   help="how overlapping boxes merge: auto = the best mAP50 on the calibration fold (NMS or clustering)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)


# ---------------------------------------------------------------- calibration

def choose_conf(items: list[dict], grid=CONF_GRID) -> tuple[float, list]:
    """The detector confidence with the best F1 (IoU 0.5) on the calibration fold."""
    from inference.models.yolo import peak_score

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
    from inference.models.yolo import postprocess

    passes = []
    for chunk, imgs, raw, metas in detector_passes(detector, rows, batch):
        raw = raw if isinstance(raw, np.ndarray) else raw.detach().float().cpu().numpy()
        passes.append((raw, metas, [L.readboxes_of(r.label, im.shape[1], im.shape[0]) for r, im in zip(chunk, imgs)]))

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


def map_by_imgsz(weights: Path, rows, sizes, device: str, batch: int = 8) -> dict:
    """Diagnostic only (never used to choose anything): the detector's mAP on ``rows`` at
    several run-time input sizes. ACNE04's train photos are enlarged copies (median box side
    31.5 px against 26.9 px in valid); a larger run-time size shows whether that shift costs."""
    from inference.models.yolo import YoloDetector, postprocess

    out = {}
    for size in sizes:
        det = YoloDetector(weights, Backend.torch(device), imgsz=size)
        per = []
        for chunk, imgs, raw, metas in detector_passes(det, rows, batch):
            for r, im, d in zip(chunk, imgs, postprocess(raw, metas, det.names, MAP_CONF, MAP_IOU, MAP_MAX_DET)):
                per.append((*boxes_of(d), L.readboxes_of(r.label, im.shape[1], im.shape[0])))
        out[str(size)] = average_precision(per)
    return out


def merge_text(m: BoxMerge) -> str:
    if m.method == "cluster":
        return (f"weighted box clustering (IoU {m.iou:g}, boxes from confidence {m.candidate_conf:g}; a cluster's support "
                f"orders the lesions, and it counts when its strongest box reaches the operating confidence)")
    return f"non-maximum suppression (IoU {m.iou:g})"


def counts_for(items: list[dict], conf: float, params: FusionParams) -> np.ndarray:
    return np.array([len(fuse(it["cands"], it["lesion_prob"], conf, params if params.enabled else FusionParams())[0]) for it in items])


# ---------------------------------------------------------------- the model card

CARD_TEXT = """## Face (acne) models: `face_yolo`, `face_unet`, `face_grader.json`, and the router

- **Data**: ACNE04 (Wu et al., ICCV 2019, "Joint Acne Image Grading and Counting"), Roboflow "Acne04 Detection" v5 export: 1,274 clinical photos of one side of the face, one lesion class. **The ACNE04 authors grant it for academic use only: `face_yolo.*`, `face_unet.*` and `face_grader.json` are for research and non-commercial use only.** The router (`router.*`) is trained on ACNE04 and scalp_uze (CC BY 4.0, "uze / Roboflow Universe") as well: the same restriction applies to it.
- **Detector** `face_yolo.pt` / `.onnx`: Ultralytics YOLOv5nu (AGPL-3.0), one class `acne`, fine-tuned from the COCO backbone and neck at {imgsz} px. Overlapping boxes: {merge} (chosen by mAP50 on the calibration fold).
- **U-Net** `face_unet.pt` / `.onnx`: segmentation-models-pytorch U-Net, MobileNetV2 encoder from ImageNet (torchvision, BSD-3), classes background / lesion; the masks it learnt are ellipses drawn inside the lesion boxes (no pixel labels exist).
- **Grade** `face_grader.json`: Hayashi levels from the lesion count (0-5 mild, 6-20 moderate, 21-50 severe, over 50 very severe, on one side of the face) with thresholds calibrated on photos the detector did not train on ({thresholds}); LOW = mild, MIDDLE = moderate, HIGH = severe or very severe; UNCERTAIN under confidence {uncertain}. Fusion of the U-Net into the count: {fusion}.
- **Router** `router.pt` / `.onnx`: MobileNetV2 (ImageNet start) with a scalp / face / neither head; "face" means a close-up of facial skin as in ACNE04. A portrait or selfie that shows the whole face and hair is not what it was trained on.
- **Valid split** (ACNE04 valid, {n} photos): mAP50 {map50}, mAP50-95 {map50_95}; at the operating point (confidence {conf}) detector alone P {precision} R {recall}, with the U-Net fusion P {fusion_precision} R {fusion_recall}; grade accuracy {grade_accuracy} (3 grades), {grade_accuracy4} (4 levels; ACNE04 paper: 84.11%); routing to the face pipeline {routing_accuracy}; scalp_uze valid routed to scalp {scalp_routing}; code-made "neither" photos recognised {neither_routing}.
- **Limits**: ACNE04 misses lesions (its boxes are incomplete), so precision is under-estimated and the U-Net learns a noisy background; lesions are counted on the whole photo, which ACNE04 frames as one side of the face; skin types in ACNE04 are mostly East Asian.
"""


def write_model_card(out: Path, fields: dict) -> Path:
    """Replace (or append) the face section of ``weights/MODEL_CARD.md``."""
    path = out / MODEL_CARD
    text = path.read_text() if path.exists() else "# Model card\n"
    section = CARD_BEGIN + "\n" + CARD_TEXT.format(**{k: ("n/a" if v is None else v) for k, v in fields.items()}) + CARD_END
    if CARD_BEGIN in text and CARD_END in text:
        text = text[: text.index(CARD_BEGIN)] + section + text[text.index(CARD_END) + len(CARD_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- stages

def train_router_stage(args, shared: Path, out: Path, device: str, log: RunLog, enc: dict) -> dict:
    from .route_trainer import RouterTrainConfig, dataset_items, neither_set, package_images, package_items, routing_report, train_router

    tc = RouterTrainConfig(copies=args.router_copies, finetune_steps=args.router_finetune, device=device, seed=args.seed,
                           neither_train=max(40, args.limit * 4) if args.limit else 600,
                           neither_valid=max(24, args.limit * 2) if args.limit else 200)
    train = dataset_items(shared, "train", args.limit) + neither_set(tc.neither_train, args.seed + 11) + package_items("train", 6, args.seed)
    valid = dataset_items(shared, "valid", args.limit) + neither_set(tc.neither_valid, args.seed + 1000) + package_items("valid", 3, args.seed + 1)
    net = train_router(train, enc, tc)
    cfg = {"classes": list(ROUTER_CLASSES), "size": ROUTER_SIZE, "arch": "torchvision mobilenet_v2",
           "trained": time.strftime("%Y-%m-%d"), "data": "scalp_uze + acne04 + code-made neither"}
    save_router(out / ROUTER, net, cfg)
    router = Router.load(out / ROUTER, Backend.torch(device))
    router_onnx = (out / ROUTER).with_suffix(".onnx")
    report = routing_report(router, valid, package_images()["people"])
    report["train_counts"] = {c: sum(it.label == i for it in train) for i, c in enumerate(ROUTER_CLASSES)}
    # ONNX (dynamic batch), weights stored in fp16
    from inference.models.onnx_export import add_metadata, store_weights_fp16

    dummy = torch.zeros(1, 3, ROUTER_SIZE, ROUTER_SIZE)
    torch.onnx.export(router.net.cpu().eval(), dummy, str(router_onnx), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    store_weights_fp16(router_onnx)

    add_metadata(router_onnx, {"config": json.dumps(cfg)})  # the service runs it without torch
    from .int8 import quantize_router

    report["int8"] = quantize_router(out, shared, args.seed)
    log.set("router", report)
    (out / ROUTER_METRICS).write_text(json.dumps({"device": device_description(device), "trained": cfg["trained"],
                                                  "args": {"copies": tc.copies, "finetune_steps": tc.finetune_steps},
                                                  "router_valid": report}, indent=1, ensure_ascii=False, default=float))
    print("  router:", json.dumps({k: report.get(k) for k in ("n", "accuracy", "scalp_accuracy", "face_accuracy", "neither_accuracy")}))
    return report


def run(args: argparse.Namespace) -> dict:
    t_start = time.time()
    device = pick_device(args.device)
    seed_everything(args.seed)
    shared = Path(args.shared)
    out = Path(args.out)
    build = Path(args.build) / "face"
    build.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(build / "run.json", {"device": device_description(device), "args": {k: v for k, v in vars(args).items() if k != "func"}})
    enc = torch.load(shared / "pretrained/mobilenet_v2-b0353104.pth", map_location="cpu", weights_only=True)

    if args.router_only:
        with log.timed("router"):
            train_router_stage(args, shared, out, device, log, enc)
        log.set("total_minutes", round((time.time() - t_start) / 60, 1))
        return log.data

    rows = read_acne_index(shared / "datasets/acne04")
    if args.limit:
        rows = [r for s in ("train", "valid") for r in [r for r in rows if r.split == s][: args.limit]]
    train_rows = [r for r in rows if r.split == "train"]
    valid_rows = [r for r in rows if r.split == "valid"]
    calib = L.calibration_split(train_rows, CALIB_FRACTION, args.seed)
    fit_rows = [r for r in train_rows if r.filename not in calib]
    calib_rows = [r for r in train_rows if r.filename in calib]

    with log.timed("labels"):
        data = L.build_yolo_set(train_rows, calib, build / "yolo")
        sheet = L.write_contact_sheet(train_rows, build / "sheets" / "face_train.png", args.sheets, args.seed)
        log.set("labels", {"photos": len(rows), "train": len(fit_rows), "calibration": len(calib_rows), "valid": len(valid_rows),
                           "contact_sheet": str(sheet) if sheet else None, "stats": L.label_stats(rows)})

    with log.timed("yolo"):
        tcy = YoloTrainConfig(imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, device=device if device != "cuda" else "0",
                              seed=args.seed, workers=args.workers, mosaic=args.mosaic, close_mosaic=args.close_mosaic,
                              flipud=0.0,  # faces are photographed upright
                              degrees=0.0, scale=args.scale)
        if args.detector:
            best = Path(args.detector)
            log.set("detector_from", str(best))
        else:
            best = train_yolo(data, shared / "pretrained/yolov5nu_coco_backbone-neck.pt", build / "yolo_runs", tcy)
        slim_checkpoint(best, out / FACE_DETECTOR, meta={"classes": list(L.DETECTOR_NAMES), "data": "acne04 (academic use only)"})

    with log.timed("unet"):
        cfg = UNetConfig(L.LESION_CLASSES, image_size=args.seg_infer_size)
        if args.segmenter:
            b = load_unet(Path(args.segmenter))
            cfg, net = b.cfg, b.net
            log.set("segmenter_from", str(args.segmenter))
        else:
            tiles = L.tile_samples(fit_rows, args.seg_tile)
            tc = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps, device=device, seed=args.seed, lr=2e-3)
            net = train_unet(cfg, [(tiles, 1.0)], tc, encoder_state=enc)
        save_unet(out / FACE_SEGMENTER, cfg, net, half=True,
                  meta={"trained": time.strftime("%Y-%m-%d"), "data": "acne04 box ellipses (academic use only)", "tile": args.seg_tile})

    with log.timed("calibration"):
        detector = YoloDetector(out / FACE_DETECTOR, Backend.torch(device))
        merge, merge_table = choose_merge(detector, calib_rows)
        if args.box_merge == "nms":
            merge = BoxMerge()
        elif args.box_merge == "cluster" and merge.method != "cluster":
            merge = max((t for t in merge_table if t[0].method == "cluster"), key=lambda t: t[1]["map50"] or 0.0)[0]
        log.set("box_merge", {"chosen": merge.__dict__, "table": [(m.__dict__, r) for m, r in merge_table]})
        print("  box merge on the calibration fold (mAP50):",
              ", ".join(f"{m.method} {m.iou}: {r['map50']}" for m, r in merge_table), "->", merge)
        # a provisional grader: low operating confidence so every candidate is kept for the grids
        models = FaceChain(detector, load_unet(out / FACE_SEGMENTER, Backend.torch(device)),
                           CountGrader(conf=0.05, merge=merge))
        items = collect(models, calib_rows)
        conf, conf_table = choose_conf(items)
        fusion, fusion_report = choose_fusion(items, conf)
        counts = counts_for(items, conf, fusion)
        levels = np.array([it["row"].level for it in items])
        grader = fit_count_grader(counts, levels, conf, fusion, merge)
        grader.meta = {"calibration_photos": len(items), "trained": time.strftime("%Y-%m-%d"),
                       "calibration_accuracy3": round(float(np.mean([min(grader.level(c), 2) == min(l, 2) for c, l in zip(counts, levels)])), 4) if len(items) else None,
                       "calibration_accuracy4": round(float(np.mean([grader.level(c) == l for c, l in zip(counts, levels)])), 4) if len(items) else None}
        (out / FACE_GRADER).write_text(json.dumps(grader.to_json(), indent=1))
        log.set("calibration", {"conf": conf, "conf_table": [(c, m["precision"], m["recall"], m["f1"]) for c, m in conf_table],
                                "fusion": fusion_report, "fusion_params": fusion.__dict__, "grader": grader.to_json()})
        del items

    if not args.skip_router:
        with log.timed("router"):
            train_router_stage(args, shared, out, device, log, enc)
    elif (out / ROUTER_METRICS).exists():  # the router kept as it is: report its own measurements
        log.set("router", json.loads((out / ROUTER_METRICS).read_text()).get("router_valid"))

    with log.timed("export"):
        b = load_unet(out / FACE_SEGMENTER)
        export_unet_onnx(b.net, b.cfg, out / "face_unet.onnx", half=True, meta=b.meta)
        export_yolo_onnx(out / FACE_DETECTOR, args.imgsz, out / "face_yolo.onnx")
        from .int8 import quantize_exported

        log.set("int8", quantize_exported(out / "face_yolo.onnx", [Path(r.image) for r in train_rows]))
        sizes = {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(list(out.glob("face_*")) + list(out.glob("router*")))}
        log.set("weights_mb", sizes)

    with log.timed("evaluate"):
        from inference.service.domains import load_face, load_router

        backend = Backend(device)  # as the service runs them
        models = load_face(out, backend)
        metrics = face_metrics(models, collect(models, valid_rows, router=load_router(out, backend)))
        log.set("valid_metrics", metrics)
        if args.imgsz_diagnostic:
            log.set("valid_map_by_imgsz_diagnostic", map_by_imgsz(out / FACE_DETECTOR, valid_rows, args.imgsz_diagnostic, device))
        # failure analysis: the valid contact sheet with the predicted boxes (cyan) beside the labels (yellow)
        import cv2

        preds = {}
        for r in valid_rows[: max(args.sheets, 1)]:
            a = models.analyze([cv2.cvtColor(cv2.imread(str(r.image)), cv2.COLOR_BGR2RGB)])[0]
            preds[r.filename] = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in a.detections]).reshape(-1, 4)
        L.write_contact_sheet(valid_rows[: max(args.sheets, 1)], build / "sheets" / "face_valid_predicted.png", args.sheets, args.seed, preds)

    router = log.data.get("router") or {}
    write_model_card(out, {
        "imgsz": args.imgsz, "merge": merge_text(grader.merge), "thresholds": ", ".join(f"{t:g}" for t in grader.thresholds), "uncertain": grader.uncertain_below,
        "fusion": ("used" if fusion.enabled else "not used (it did not raise F1 on the calibration fold)"),
        "conf": conf, "scalp_routing": router.get("scalp_accuracy"), "neither_routing": router.get("neither_accuracy"),
        **{k: metrics.get(k) for k in ("n", "map50", "map50_95", "precision", "recall", "fusion_precision", "fusion_recall",
                                       "grade_accuracy", "grade_accuracy4", "routing_accuracy")}})
    log.set("total_minutes", round((time.time() - t_start) / 60, 1))
    (out / FACE_METRICS).write_text(json.dumps(
        {k: log.data.get(k) for k in ("device", "timings_s", "total_minutes", "labels", "calibration", "router", "weights_mb", "valid_metrics",
                                      "valid_map_by_imgsz_diagnostic")}
        | {"args": {k: v for k, v in vars(args).items() if k not in ("shared", "out", "build", "func")}},
        indent=1, ensure_ascii=False, default=float))
    return log.data
