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

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inference.types import Box, Detection

from .onnx_runtime import Backend

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
    out = cv2.copyMakeBorder(rgb, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT,
                             value=(PAD_VALUE,) * 3)
    return out, LetterboxMeta(s, left, top, w, h)


def to_batch(images: list[np.ndarray]) -> np.ndarray:
    """Letterboxed RGB uint8 images -> N x 3 x S x S float32 in [0, 1]."""
    x = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return np.ascontiguousarray(x)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of N x 4 and M x 4 xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``: indices of the kept boxes,
    best score first; a box goes when its IoU with a kept one is above ``iou``."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])).clip(0)
        h = (np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])).clip(0)
        inter = w * h
        union = area[i] + area[rest] - inter
        ratio = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[ratio <= iou]
    return np.asarray(keep, dtype=np.int64)


MERGES = ("nms", "cluster")


def cluster_boxes(boxes: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted box clustering: the alternative to NMS for many overlapping weak boxes.

    Greedy as ``nms``: the best remaining box leads a cluster of every remaining box whose
    IoU with it is above ``iou``; the cluster's box is the members' score-weighted mean and
    its score ``1 - exp(-sum of the members' scores)`` (in 0..1, rising with the support: a
    lesion that many anchors see outranks one that a single anchor sees at the same score).
    Returns (boxes K x 4, scores K, the leaders' indices K), best score first.

    >>> b = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    >>> boxes, sc, lead = cluster_boxes(b, np.array([0.5, 0.5, 0.6]), 0.5)
    >>> boxes[0].tolist(), round(float(sc[0]), 3), lead.tolist()
    ([0.5, 0.0, 10.5, 10.0], 0.632, [0, 2])
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    out_boxes, out_sums, leaders = [], [], []
    while order.size:
        i = order[0]
        w = (np.minimum(x2[i], x2[order]) - np.maximum(x1[i], x1[order])).clip(0)
        h = (np.minimum(y2[i], y2[order]) - np.maximum(y1[i], y1[order])).clip(0)
        inter = w * h
        union = area[i] + area[order] - inter
        ratio = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        member = ratio > iou
        member[0] = True  # the leader, also when its area is zero
        m = order[member]
        wts = scores[m]
        total = float(wts.sum())
        out_boxes.append(wts @ boxes[m] / total if total > 0 else boxes[i])
        out_sums.append(total)
        leaders.append(i)
        order = order[~member]
    if not leaders:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
    sums = np.asarray(out_sums)
    rank = np.argsort(-sums, kind="stable")
    return np.asarray(out_boxes)[rank], 1.0 - np.exp(-sums[rank]), np.asarray(leaders, np.int64)[rank]


def peak_score(d: Detection) -> float:
    """The detector's own score at a detection's strongest box: ``score`` after NMS; for a
    cluster (``merge="cluster"``), its leading box's score, not the cluster's support."""
    return d.class_scores[d.class_id] if d.class_scores else d.score


def postprocess(
    raw: Any,
    metas: list[LetterboxMeta],
    names: tuple[str, ...],
    conf: float = 0.25,
    iou: float = 0.5,
    max_det: int = 300,
    agnostic: bool = True,
    merge: str = "nms",
) -> list[list[Detection]]:
    """Raw head output (B, 4 + nc, anchors; a numpy array or a tensor), boxes as centre-xywh
    in input pixels, to detections in image pixels, best first.

    ``merge``: "nms" keeps the best box of each overlapping group; "cluster" fuses each
    group (``cluster_boxes``, class-agnostic; ``conf`` is then the floor for the boxes that
    join a cluster). A cluster's ``score`` is its support (it orders the detections);
    its ``class_scores`` are those of its strongest box (``peak_score``)."""
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}, not {merge!r}")
    if not isinstance(raw, np.ndarray):  # a torch tensor, on any device
        raw = raw.detach().float().cpu().numpy()
    raw = raw.astype(np.float32, copy=False)
    out = []
    for b, meta in enumerate(metas):
        p = raw[b].T  # anchors x (4 + nc)
        scores = p[:, 4:]
        cls = scores.argmax(1)
        best = scores[np.arange(len(scores)), cls]
        keep = best >= conf
        p, scores, best, cls = p[keep], scores[keep], best[keep], cls[keep]
        xywh = p[:, :4].astype(np.float64)
        xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        if merge == "cluster":
            fused, fused_scores, lead = cluster_boxes(xyxy, best, iou)
            fused, fused_scores, lead = fused[:max_det], fused_scores[:max_det], lead[:max_det]
            boxes = meta.to_image(fused)
            dets = []
            for j, i in enumerate(lead.tolist()):
                c = int(cls[i])
                dets.append(Detection(Box(*boxes[j].tolist()), c, names[c], float(fused_scores[j]),
                                      tuple(float(v) for v in scores[i].tolist())))
            out.append(dets)
            continue
        if agnostic or not len(xyxy):
            idx = nms(xyxy, best, iou)
        else:  # class-aware, as torchvision's batched_nms: boxes of other classes never overlap
            shift = cls[:, None].astype(np.float64) * (xyxy.max() + 1)
            idx = nms(xyxy + shift, best, iou)
        idx = idx[:max_det]
        boxes = meta.to_image(xyxy[idx])
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

    def __init__(self, weights: Path, backend: Backend | None = None, imgsz: int | None = None, half: bool = False):
        """``backend``: where and how it runs (``onnx_runtime.Backend``; None: torch on the CPU,
        as training runs it). Where the backend runs ONNX, the export beside the weights (or its
        int8 twin) runs in ONNX Runtime with the class names and input size from its metadata,
        and torch is never imported."""
        backend = backend or Backend.torch()
        self.device = device = backend.device
        self.half = half and device.startswith("cuda")
        module = backend.module(Path(weights).with_suffix(".onnx")) if not self.half else None
        if module is not None:
            self.model: Any = module  # the same network, exported by the training run
            meta = module.metadata
            names = ast.literal_eval(meta["names"])
            self.names = tuple(names[i] for i in range(len(names)))
            self.imgsz = int(imgsz or ast.literal_eval(meta.get("imgsz", "[640, 640]"))[0])
            self.backend = "onnx"
            return
        from ultralytics.nn.tasks import load_checkpoint

        model, ckpt = load_checkpoint(str(weights), device="cpu", fuse=True)
        self.model = model.to(device).eval()
        if self.half:
            self.model.half()
        else:
            self.model.float()
        self.names = tuple(model.names[i] for i in range(len(model.names)))
        train_args = ckpt.get("train_args", {}) if isinstance(ckpt, dict) else {}
        self.imgsz = int(imgsz or train_args.get("imgsz", 640))
        self.backend = "torch"

    def preprocess(self, images: list[np.ndarray]) -> tuple[Any, list[LetterboxMeta]]:
        """The letterboxed batch: a numpy array for ONNX Runtime, a tensor on the device for torch."""
        boxed = [letterbox(im, self.imgsz) for im in images]
        x = to_batch([b for b, _ in boxed])
        if self.backend == "onnx":
            return x, [m for _, m in boxed]
        import torch

        t = torch.from_numpy(x).to(self.device)
        return (t.half() if self.half else t), [m for _, m in boxed]

    def forward(self, x: Any) -> Any:
        if self.backend == "onnx":
            return self.model(x)
        import torch

        with torch.inference_mode():
            y = self.model(x)
        return y[0] if isinstance(y, (tuple, list)) else y

    def detect(self, images: list[np.ndarray], conf: float = 0.25, iou: float = 0.5, merge: str = "nms",
               max_det: int = 300) -> list[list[Detection]]:
        if not images:
            return []
        x, metas = self.preprocess(images)
        return postprocess(self.forward(x), metas, self.names, conf=conf, iou=iou, max_det=max_det, merge=merge)
