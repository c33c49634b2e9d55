"""YOLO detectors (Ultralytics models, our own pre- and post-processing).

Ultralytics builds, trains and exports the network; at run time we call the
network directly so a batch of photos is one forward pass and every box keeps
the score of every class (the grade combines them).

Example:
    >>> import numpy as np
    >>> from inference.models.yolo import letterbox
    >>> img, meta = letterbox(np.zeros((480, 640, 3), np.uint8), 320)
    >>> img.shape, meta.scale
    ((320, 320, 3), 0.5)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision

from inference.models.onnx_utils import OnnxModule, onnx_wanted
from inference.pipeline.types import Box, Detection

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxMeta:
    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def to_image(self, xyxy: np.ndarray) -> np.ndarray:
        out = xyxy.astype(np.float64).copy()
        out[..., [0, 2]] = (out[..., [0, 2]] - self.pad_x) / self.scale
        out[..., [1, 3]] = (out[..., [1, 3]] - self.pad_y) / self.scale
        out[..., [0, 2]] = out[..., [0, 2]].clip(0, self.width)
        out[..., [1, 3]] = out[..., [1, 3]].clip(0, self.height)
        return out


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, LetterboxMeta]:
    """Resize keeping the aspect ratio and pad to ``size`` x ``size``."""
    h, w = rgb.shape[:2]
    s = min(size / h, size / w)
    nw, nh = round(w * s), round(h * s)
    if (nw, nh) != (w, h):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
    px, py = (size - nw) / 2, (size - nh) / 2
    top, left = int(round(py - 0.1)), int(round(px - 0.1))
    out = cv2.copyMakeBorder(rgb, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return out, LetterboxMeta(s, left, top, w, h)


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    x = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(x))


def postprocess(
    raw: torch.Tensor,
    metas: list[LetterboxMeta],
    names: tuple[str, ...],
    conf: float = 0.25,
    iou: float = 0.5,
    max_det: int = 300,
    agnostic: bool = True,
) -> list[list[Detection]]:
    """Raw head output (B, 4 + nc, anchors), boxes as centre-xywh in input pixels,
    to detections in image pixels, best first."""
    raw = raw.float()
    out = []
    for b, meta in enumerate(metas):
        p = raw[b].T  # anchors x (4 + nc)
        scores = p[:, 4:]
        best, cls = scores.max(1)
        keep = best >= conf
        p, scores, best, cls = p[keep], scores[keep], best[keep], cls[keep]
        xywh = p[:, :4]
        xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        if agnostic:
            idx = torchvision.ops.nms(xyxy, best, iou)
        else:
            idx = torchvision.ops.batched_nms(xyxy, best, cls, iou)
        idx = idx[:max_det]
        boxes = meta.to_image(xyxy[idx].cpu().numpy())
        dets = []
        for j, i in enumerate(idx.tolist()):
            c = int(cls[i])
            dets.append(
                Detection(
                    Box(*boxes[j].tolist()), c, names[c], float(best[i]), tuple(float(s) for s in scores[i].tolist())
                )
            )
        out.append(dets)
    return out


class YoloDetector:
    """A trained Ultralytics detector, fused and in eval mode.

    ``detect`` takes RGB arrays and returns one list of detections per image,
    running the whole batch in one forward pass.
    """

    def __init__(self, weights: Path, device: str = "cpu", imgsz: int | None = None, half: bool = False, runtime: bool = False):
        """``runtime``: the product's loaders ask for it; then the ONNX export beside the
        weights runs in ONNX Runtime where ``onnx_wanted`` says so (training code keeps torch)."""
        from ultralytics.nn.tasks import load_checkpoint

        model, ckpt = load_checkpoint(str(weights), device="cpu", fuse=True)
        self.model = model.to(device).eval()
        self.half = half and device.startswith("cuda")
        if self.half:
            self.model.half()
        else:
            self.model.float()
        self.device = device
        self.names = tuple(model.names[i] for i in range(len(model.names)))
        train_args = ckpt.get("train_args", {}) if isinstance(ckpt, dict) else {}
        self.imgsz = int(imgsz or train_args.get("imgsz", 640))
        onnx_path = Path(weights).with_suffix(".onnx")
        if runtime and not self.half and onnx_wanted(device, onnx_path):
            self.model = OnnxModule(onnx_path)  # the same network, exported by the training run
        self.backend = "onnx" if isinstance(self.model, OnnxModule) else "torch"

    def preprocess(self, images: list[np.ndarray]) -> tuple[torch.Tensor, list[LetterboxMeta]]:
        boxed = [letterbox(im, self.imgsz) for im in images]
        x = to_batch([b for b, _ in boxed]).to(self.device)
        return (x.half() if self.half else x), [m for _, m in boxed]

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y[0] if isinstance(y, (tuple, list)) else y

    def detect(self, images: list[np.ndarray], conf: float = 0.25, iou: float = 0.5) -> list[list[Detection]]:
        if not images:
            return []
        x, metas = self.preprocess(images)
        return postprocess(self.forward(x), metas, self.names, conf=conf, iou=iou)
