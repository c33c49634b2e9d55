"""What every stage of a scalp training run reads: its arguments, device, folders, log and photos."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..common import RunLog, device_description, pick_device, seed_everything
from ..segdata import read_scalp_index


@dataclass(frozen=True)
class ScalpRun:
    args: argparse.Namespace
    device: str
    shared: Path  # the read-only data
    out: Path  # the weights folder
    build: Path  # build/scalp: labels, runs, contact sheets, run.json
    log: RunLog
    rows: list[dict]  # scalp_uze, both splits (``--limit`` per split)
    encoder: dict  # the ImageNet MobileNetV2 state the U-Net and the grade CNN start from
    started: float = field(default_factory=time.time)

    @property
    def train_rows(self) -> list[dict]:
        return [r for r in self.rows if r["split"] == "train"]

    @property
    def valid_rows(self) -> list[dict]:
        return [r for r in self.rows if r["split"] == "valid"]

    @property
    def yolo_device(self) -> str:
        return self.device if self.device != "cuda" else "0"  # Ultralytics names a CUDA card by index


def start(args: argparse.Namespace) -> ScalpRun:
    """Seed, make the folders, open the log, read the photo index and the encoder."""
    started = time.time()
    device = pick_device(args.device)
    seed_everything(args.seed)
    shared, out, build = Path(args.shared), Path(args.out), Path(args.build) / "scalp"
    build.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(build / "run.json", {"device": device_description(device), "args": vars(args)})
    rows = read_scalp_index(shared / "datasets/scalp_uze")
    if args.limit:
        rows = [r for s in ("train", "valid") for r in [r for r in rows if r["split"] == s][: args.limit]]
    enc = torch.load(shared / "pretrained/mobilenet_v2-b0353104.pth", map_location="cpu", weights_only=True)
    return ScalpRun(args, device, shared, out, build, log, rows, enc, started)
