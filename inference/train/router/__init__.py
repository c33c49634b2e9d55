"""Train the router (scalp / face / neither): a MobileNetV2 from the ImageNet start.

Data:
* scalp: scalp_uze, every view (Front, Left and Right show a face: still scalp);
* face: ACNE04 (close-ups of one side of the face);
* neither: made here by code (``neither.py``), plus the few photos and drawings shipped
  inside installed pip packages. Photos of people are kept out of training and reported
  apart (what should a portrait be? neither data set says).

Training (``trainer.py``): the ImageNet features (frozen) of a few augmented copies of every
photo, a linear head fitted on them, then (``finetune_steps`` > 0, for a GPU or
a longer CPU run) the whole network fine-tuned from there. The router is small
(about 4.5 MB in fp16) and runs once per photo at 224 px.

``python -m inference.train face`` runs ``router_stage`` (or only it, ``--router-only``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from inference.artifacts import ROUTER, ROUTER_METRICS
from inference.models.onnx_export import add_metadata, store_weights_fp16
from inference.models.onnx_runtime import Backend
from inference.models.router import ROUTER_CLASSES, ROUTER_SIZE, Router, save_router

from ..common import RunLog, device_description
from ..int8 import quantize_router
from .neither import TRAIN_SEED, VALID_SEED, neither_set, package_images, package_items
from .trainer import RouterTrainConfig, dataset_items, routing_report, train_router


def router_stage(args: argparse.Namespace, shared: Path, out: Path, device: str, log: RunLog, encoder: dict) -> dict:
    """Train the router on both datasets' train splits and the code-made "neither" photos,
    save it with its ONNX export and int8 twin, measure it on the valid splits
    (``router_metrics.json``); returns the report."""
    tc = RouterTrainConfig(copies=args.router_copies, finetune_steps=args.router_finetune, device=device,
                           seed=args.seed, neither_train=max(40, args.limit * 4) if args.limit else 600,
                           neither_valid=max(24, args.limit * 2) if args.limit else 200)
    train = (dataset_items(shared, "train", args.limit) + neither_set(tc.neither_train, args.seed + TRAIN_SEED)
             + package_items("train", 6, args.seed))
    valid = (dataset_items(shared, "valid", args.limit) + neither_set(tc.neither_valid, args.seed + VALID_SEED)
             + package_items("valid", 3, args.seed + 1))
    net = train_router(train, encoder, tc)
    cfg = {"classes": list(ROUTER_CLASSES), "size": ROUTER_SIZE, "arch": "torchvision mobilenet_v2",
           "trained": time.strftime("%Y-%m-%d"), "data": "scalp_uze + acne04 + code-made neither"}
    save_router(out / ROUTER, net, cfg)
    router = Router.load(out / ROUTER, Backend.torch(device))
    report = routing_report(router, valid, package_images()["people"])
    report["train_counts"] = {c: sum(it.label == i for it in train) for i, c in enumerate(ROUTER_CLASSES)}
    export_onnx(router, cfg, (out / ROUTER).with_suffix(".onnx"))
    report["int8"] = quantize_router(out, shared, args.seed)
    log.set("router", report)
    (out / ROUTER_METRICS).write_text(json.dumps({"device": device_description(device), "trained": cfg["trained"],
                                                  "args": {"copies": tc.copies, "finetune_steps": tc.finetune_steps},
                                                  "router_valid": report}, indent=1, ensure_ascii=False, default=float))
    keys = ("n", "accuracy", "scalp_accuracy", "face_accuracy", "neither_accuracy")
    print("  router:", json.dumps({k: report.get(k) for k in keys}))
    return report


def export_onnx(router: Router, cfg: dict, path: Path) -> None:
    """ONNX with a dynamic batch, weights stored in fp16, the config in its metadata (the
    service runs it without torch)."""
    dummy = torch.zeros(1, 3, ROUTER_SIZE, ROUTER_SIZE)
    torch.onnx.export(router.net.cpu().eval(), dummy, str(path), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    store_weights_fp16(path)
    add_metadata(path, {"config": json.dumps(cfg)})


def keep_router(out: Path, log: RunLog) -> None:
    """``--skip-router``: the router in the weights folder stays; report its own measurements."""
    if (out / ROUTER_METRICS).exists():
        log.set("router", json.loads((out / ROUTER_METRICS).read_text()).get("router_valid"))
