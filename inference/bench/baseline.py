"""(a) The seed-style baseline: what the original hackathon seed did, one photo at a time.

Decode the JPEG, Ultralytics' high-level ``YOLO(...).predict`` (its own pre- and
post-processing), then the scalp U-Net in torch once per detected box crop. No drawing.
"""
from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from .photos import Photo
from .report import summary
from .system import sync

BASELINE_CONF = 0.25  # Ultralytics' default predict confidence


class Baseline:
    """Ultralytics' high-level ``predict`` per photo, then the U-Net once per box crop."""

    def __init__(self, weights: Path, device: str, conf: float = BASELINE_CONF):
        from ultralytics import YOLO

        from inference.models.onnx_runtime import Backend
        from inference.models.unet import load_unet

        self.yolo = YOLO(str(weights / "scalp_yolo.pt"))
        ckpt = getattr(self.yolo, "ckpt", None) or {}
        self.imgsz = int((ckpt.get("train_args") or {}).get("imgsz") or self.yolo.overrides.get("imgsz") or 640)
        self.unet = load_unet(weights / "scalp_unet.pt", Backend.torch(device))
        self.device, self.conf = device, conf
        self.boxes = 0

    def __call__(self, data: bytes) -> list[np.ndarray]:
        import cv2
        import torch

        from inference.models.unet import preprocess

        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        res = self.yolo.predict(bgr, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)[0]
        masks = []
        for x1, y1, x2, y2 in res.boxes.xyxy.cpu().numpy().astype(int).tolist():
            crop = rgb[max(0, y1) : y2, max(0, x1) : x2]
            if crop.shape[0] < 2 or crop.shape[1] < 2:
                continue
            with torch.inference_mode():
                logits = self.unet.net(preprocess([crop], self.unet.cfg.image_size).to(self.device))
            lab = torch.softmax(logits, 1).argmax(1)[0].to(torch.uint8).cpu().numpy()
            masks.append(cv2.resize(lab, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST))
            self.boxes += 1
        return masks


def bench_baseline(photos: list[Photo], weights: Path, device: str, repeats: int, warmup: int) -> dict:
    base = Baseline(weights, device)
    for p in photos[:warmup]:
        base(p.data)
    sync(device)
    base.boxes = 0
    lat = []
    t0 = time.perf_counter()
    for _ in range(repeats):
        for p in photos:
            t = time.perf_counter()
            base(p.data)
            sync(device)
            lat.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - t0
    out = summary(lat, len(lat), wall, boxes_per_photo=round(base.boxes / max(1, len(lat)), 2), imgsz=base.imgsz,
                  conf=base.conf)
    del base
    gc.collect()
    return out
