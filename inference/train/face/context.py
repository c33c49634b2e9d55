"""What every stage of a face training run reads: its arguments, device, folders and log."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..common import RunLog, device_description, pick_device, seed_everything


@dataclass(frozen=True)
class FaceRun:
    args: argparse.Namespace
    device: str
    shared: Path  # the read-only data
    out: Path  # the weights folder
    build: Path  # build/face: the YOLO set, runs, contact sheets, run.json
    log: RunLog
    encoder: dict  # the ImageNet MobileNetV2 state the U-Net and the router start from
    started: float = field(default_factory=time.time)

    @property
    def yolo_device(self) -> str:
        return self.device if self.device != "cuda" else "0"  # Ultralytics names a CUDA card by index


def start(args: argparse.Namespace) -> FaceRun:
    """Seed, make the folders, open the log, read the encoder."""
    started = time.time()
    device = pick_device(args.device)
    seed_everything(args.seed)
    shared, out, build = Path(args.shared), Path(args.out), Path(args.build) / "face"
    build.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(build / "run.json", {"device": device_description(device),
                                      "args": {k: v for k, v in vars(args).items() if k != "func"}})
    enc = torch.load(shared / "pretrained/mobilenet_v2-b0353104.pth", map_location="cpu", weights_only=True)
    return FaceRun(args, device, shared, out, build, log, enc, started)
