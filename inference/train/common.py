"""Shared pieces of the training commands: device, seeds, person folds, timing and logging,
photo reading and contact sheets."""
from __future__ import annotations

import json
import os
import platform
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch


def pick_device(name: str = "auto") -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def group_folds(groups, folds: int, seed: int) -> np.ndarray:
    """Fold index (0..folds-1) of each item, whole groups (one person's photos) to a fold:
    the sorted distinct groups, shuffled by ``seed``, dealt round-robin. Every cross-fitted
    model of a training run (the grade CNN, the scalp detectors) uses it, so with the same
    seed they hold out the same people.

    >>> group_folds(["a", "b", "a", "c"], 2, 0).tolist()
    [0, 0, 0, 1]
    """
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    fold_of_group = dict(zip(uniq, np.random.default_rng(seed).permutation(len(uniq)) % folds))
    return np.array([fold_of_group[g] for g in groups], dtype=np.int64)


def device_description(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__})"


@dataclass
class RunLog:
    """Timings and metrics of one training run, written beside the weights."""

    path: Path
    data: dict = field(default_factory=dict)

    @contextmanager
    def timed(self, stage: str):
        t0 = time.time()
        print(f"[{time.strftime('%H:%M:%S')}] {stage} ...", flush=True)
        threads = torch.get_num_threads()  # a library that changes it slows every later stage
        yield
        dt = time.time() - t0
        self.data.setdefault("timings_s", {})[stage] = round(dt, 1)
        self.data.setdefault("torch_threads", {})[stage] = threads
        print(f"[{time.strftime('%H:%M:%S')}] {stage} done in {dt:.0f}s", flush=True)
        self.save()

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, ensure_ascii=False, default=float))


def read_rgb(path: str | Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def contact_sheet(tiles: list[np.ndarray], cols: int = 8) -> np.ndarray:
    """Tiles (same size, RGB) in a grid; returns BGR ready for cv2.imwrite."""
    th, tw = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * th, cols * tw, 3), 32, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = t
    return cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)


IMAGENET_ENCODER = "pretrained/mobilenet_v2-b0353104.pth"  # in the shared data: torchvision MobileNetV2 (BSD-3)


@dataclass(frozen=True)
class TrainRun:
    """What every stage of a training run reads: its arguments, device, folders, log and the
    ImageNet encoder its networks start from."""

    args: Any
    device: str
    shared: Path  # the read-only data
    out: Path  # the weights folder
    build: Path  # build/<domain>: labels, runs, contact sheets, run.json
    log: RunLog
    encoder: dict  # the ImageNet MobileNetV2 state the U-Nets, the router and the grade CNN start from
    started: float  # time.time() at the start

    @property
    def yolo_device(self) -> str:
        return self.device if self.device != "cuda" else "0"  # Ultralytics names a CUDA card by index


def open_run(args: Any, domain: str, log_name: str = "run.json") -> TrainRun:
    """Seed, make the folders, open the log (``build/<domain>/<log_name>``), read the encoder."""
    started = time.time()
    device = pick_device(args.device)
    seed_everything(args.seed)
    shared, out, build = Path(args.shared), Path(args.out), Path(args.build) / domain
    build.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(build / log_name, {"device": device_description(device),
                                      "args": {k: v for k, v in vars(args).items() if k != "func"}})
    encoder = torch.load(shared / IMAGENET_ENCODER, map_location="cpu", weights_only=True)
    return TrainRun(args, device, shared, out, build, log, encoder, started)
