"""The scalp U-Net (background / skin / hair) in two rounds.

Round 1 learns from LFW Part Labels and Figaro1k, the only public pixel labels (faces and
hair in the wild); it labels the scalp photos (``labels.py``). Round 2 is round 1
fine-tuned with those pseudo-labels of the train split added, and is the shipped U-Net."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from inference.artifacts import SCALP_SEGMENTER
from inference.models.onnx_runtime import Backend
from inference.models.unet import UNetConfig, load_unet, save_unet

from ..segdata import SEG_CLASSES, SegSample, figaro_samples, lfw_samples
from ..unet_trainer import UNetTrainConfig, predict_probs, train_unet
from .context import ScalpRun
from .labels import ScalpLabel


def unet_config(args: argparse.Namespace) -> UNetConfig:
    return UNetConfig(SEG_CLASSES, image_size=args.seg_infer_size)


def public_samples(shared: Path, limit: int) -> tuple[list[SegSample], list[SegSample]]:
    """LFW Part Labels (train + validation) and Figaro1k (training), ``limit`` of each when given."""
    lfw = lfw_samples(shared / "datasets/lfw_parts", "train") + lfw_samples(shared / "datasets/lfw_parts", "validation")
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
        lfw, fig = public_samples(run.shared, args.limit)
        tc = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps, device=run.device, seed=args.seed)
        net = train_unet(cfg, [(lfw, 0.6), (fig, 0.4)], tc, encoder_state=run.encoder)
        save_unet(path, cfg, net, half=False)
    run.log.set("unet_round1", seg_metrics(net, cfg.image_size, run.shared, args.limit, run.device))
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
        lfw, fig = public_samples(run.shared, args.limit)
        tc = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps2, device=run.device, seed=args.seed + 1, lr=1e-3)
        net = train_unet(cfg, [(lfw, 0.3), (fig, 0.2), (scalp_train, 0.5)], tc, init_state=net1.state_dict())
    save_unet(run.out / SCALP_SEGMENTER, cfg, net, half=True,
              meta={"trained": time.strftime("%Y-%m-%d"), "data": "lfw_parts+figaro1k+scalp_uze pseudo-labels"})
    run.log.set("unet_round2", seg_metrics(net, cfg.image_size, run.shared, args.limit, run.device))
    print("  round 2:", json.dumps(run.log.data["unet_round2"]))


def seg_metrics(net, size: int, shared: Path, limit: int, device: str) -> dict:
    """IoU against real labels: LFW test (bg/skin/hair) and Figaro test (hair)."""
    lfw = lfw_samples(shared / "datasets/lfw_parts", "test")[: limit or 300]
    fig = figaro_samples(shared / "datasets/figaro1k", "testing")[: limit or 210]
    cm = np.zeros((3, 3), np.int64)
    for s in lfw:
        im, lab = s.load()
        p = predict_probs(net, [im], size, device)[0].argmax(0)
        v = lab < 3
        cm += np.bincount(lab[v].astype(np.int64) * 3 + p[v], minlength=9).reshape(3, 3)
    inter = np.diag(cm)
    iou = inter / np.maximum(cm.sum(0) + cm.sum(1) - inter, 1)
    tp = fp = fn = 0
    for s in fig:
        im, lab = s.load()
        p = predict_probs(net, [im], size, device)[0].argmax(0) == 2
        h = lab == 2
        tp += int((h & p).sum())
        fp += int((~h & p).sum())
        fn += int((h & ~p).sum())
    return {
        "lfw_test_iou": {c: round(float(v), 4) for c, v in zip(SEG_CLASSES, iou)},
        "lfw_test_n": len(lfw),
        "figaro_test_hair_iou": round(tp / max(tp + fp + fn, 1), 4),
        "figaro_test_n": len(fig),
    }
