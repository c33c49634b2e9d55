"""The scalp U-Net (background / hair / scalp / other skin) in two rounds.

Round 1 learns from LFW Part Labels (its skin split at each face's eyebrow line: face below,
scalp above) and Figaro1k (hair against anything else), the only public pixel labels; it
labels the scalp photos (``labels.py``). Round 2 is round 1 fine-tuned with those
pseudo-labels of the train split added, and is the shipped U-Net."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from inference.artifacts import SCALP_SEGMENTER
from inference.models.face_detector import FaceDetector
from inference.models.onnx_runtime import Backend
from inference.models.unet import UNetConfig, load_unet, save_unet

from ..segdata import HAIR, SEG_CLASSES, SegSample, figaro_samples, lfw_faces, lfw_samples
from ..unet_trainer import UNetTrainConfig, confusion_iou, predict_probs, train_unet
from .context import ScalpRun
from .labels import YUNET, ScalpLabel


def unet_config(args: argparse.Namespace) -> UNetConfig:
    return UNetConfig(SEG_CLASSES, image_size=args.seg_infer_size)


def lfw_face_index(shared: Path, build: Path) -> dict:
    """Every LFW Part Labels photo's face (cached in ``build/lfw_faces.json``: the face detector
    is deterministic, and it is the same for every run)."""
    return lfw_faces(shared / "datasets/lfw_parts", FaceDetector(shared / YUNET, score=0.6), build / "lfw_faces.json")


def public_samples(shared: Path, limit: int, faces: dict) -> tuple[list[SegSample], list[SegSample]]:
    """LFW Part Labels (train + validation) and Figaro1k (training), ``limit`` of each when given."""
    root = shared / "datasets/lfw_parts"
    lfw = lfw_samples(root, "train", faces) + lfw_samples(root, "validation", faces)
    fig = figaro_samples(shared / "datasets/figaro1k", "training")
    if limit:
        lfw, fig = lfw[:limit], fig[:limit]
    return lfw, fig


def round1(run: ScalpRun) -> torch.nn.Module:
    """Train round 1 (or reuse ``build/scalp/unet_round1.pt``) and measure it."""
    args = run.args
    cfg = unet_config(args)
    path = run.build / "unet_round1.pt"
    if args.reuse_round1 and path.exists():
        net = load_unet(path, Backend.torch(run.device)).net
        run.log.set("unet_round1_reused", str(path))
    else:
        lfw, fig = public_samples(run.shared, args.limit, lfw_face_index(run.shared, run.build))
        tc = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps, device=run.device, seed=args.seed)
        net = train_unet(cfg, [(lfw, 0.6), (fig, 0.4)], tc, encoder_state=run.encoder)
        save_unet(path, cfg, net, half=False)
    run.log.set("unet_round1", seg_metrics(net, cfg.image_size, run.shared, args.limit, run.device, run.build))
    print("  round 1:", json.dumps(run.log.data["unet_round1"]))
    return net


def round2(run: ScalpRun, net1: torch.nn.Module, labels: list[ScalpLabel]) -> None:
    """Fine-tune round 1 with the train split's pseudo-labels (or take ``--segmenter``), save
    the shipped U-Net and measure it."""
    args = run.args
    cfg = unet_config(args)
    if args.segmenter:
        net = load_unet(Path(args.segmenter), Backend.torch(run.device)).net
        run.log.set("segmenter_from", str(args.segmenter))
    else:
        scalp_train = [
            SegSample(Path(r["path"]), run.build / "masks" / (Path(r["filename"]).stem + ".png"), "scalp")
            for r, lab in zip(run.rows, labels)
            if r["split"] == "train" and not lab.dropped
        ]
        lfw, fig = public_samples(run.shared, args.limit, lfw_face_index(run.shared, run.build))
        tc = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps2, device=run.device, seed=args.seed + 1, lr=1e-3)
        net = train_unet(cfg, [(lfw, 0.3), (fig, 0.2), (scalp_train, 0.5)], tc, init_state=net1.state_dict())
    save_unet(run.out / SCALP_SEGMENTER, cfg, net, half=True,
              meta={"trained": time.strftime("%Y-%m-%d"), "data": "lfw_parts+figaro1k+scalp_uze pseudo-labels"})
    run.log.set("unet_round2", seg_metrics(net, cfg.image_size, run.shared, args.limit, run.device, run.build))
    print("  round 2:", json.dumps(run.log.data["unet_round2"]))


def seg_metrics(net, size: int, shared: Path, limit: int, device: str, build: Path) -> dict:
    """IoU against real labels: LFW test (every class; its skin split at the faces' eyebrow
    lines, skin of a photo without a found face not scored) and Figaro test (hair)."""
    lfw = lfw_samples(shared / "datasets/lfw_parts", "test", lfw_face_index(shared, build))[: limit or 300]
    fig = figaro_samples(shared / "datasets/figaro1k", "testing")[: limit or 210]
    preds, targets = [], []
    for s in lfw:
        im, lab = s.load()
        preds.append(predict_probs(net, [im], size, device)[0].argmax(0).ravel())
        targets.append(lab.ravel())
    iou = confusion_iou(np.concatenate(preds), np.concatenate(targets), len(SEG_CLASSES))
    tp = fp = fn = 0
    for s in fig:
        im, lab = s.load()
        p = predict_probs(net, [im], size, device)[0].argmax(0) == HAIR
        h = lab == HAIR
        tp += int((h & p).sum())
        fp += int((~h & p).sum())
        fn += int((h & ~p).sum())
    return {
        "lfw_test_iou": {c: round(float(v), 4) for c, v in zip(SEG_CLASSES, iou)},
        "lfw_test_n": len(lfw),
        "figaro_test_hair_iou": round(tp / max(tp + fp + fn, 1), 4),
        "figaro_test_n": len(fig),
    }
