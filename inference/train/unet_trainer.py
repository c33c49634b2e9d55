"""A plain, reproducible training loop for the project's U-Nets (CPU or GPU)."""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from inference.models.unet import IMAGENET_MEAN, IMAGENET_STD, UNetConfig, build_unet

from .segdata import IGNORE, PARTIAL, SegSample, augment


@dataclass
class UNetTrainConfig:
    size: int = 192
    batch: int = 16
    steps: int = 200
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    log_every: int = 20
    # a time budget: the cosine schedule follows whichever of steps or time runs out first
    max_seconds: float | None = None


def partial_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                          partial: dict[int, tuple[int, ...]] | None = None) -> torch.Tensor:
    """Cross-entropy where a pixel may be labelled "one of several classes".

    ``target`` holds class ids, ``IGNORE``, or a key of ``partial`` (default ``segdata.PARTIAL``):
    for those the probability mass of the named classes together is maximised.
    """
    partial = PARTIAL if partial is None else partial
    logp = F.log_softmax(logits.float(), dim=1)
    n = logp.shape[1]
    t = target.long()
    valid = t != IGNORE
    exact = valid & (t < n)
    loss = torch.zeros_like(t, dtype=logp.dtype)
    if exact.any():
        idx = torch.where(exact, t, torch.zeros_like(t))
        loss = torch.where(exact, -logp.gather(1, idx[:, None])[:, 0], loss)
    for value, classes in partial.items():
        sel = t == value
        if sel.any() and max(classes) < n:
            loss = torch.where(sel, -torch.logsumexp(logp[:, list(classes)], dim=1), loss)
    valid &= (t < n) | torch.isin(t, torch.tensor(list(partial), device=t.device))
    return loss.sum() / valid.sum().clamp(min=1)


def _to_tensor(batch_rgb: list[np.ndarray]) -> torch.Tensor:
    x = np.stack(batch_rgb).astype(np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


def train_unet(
    cfg: UNetConfig,
    pools: list[tuple[list[SegSample], float]],
    tc: UNetTrainConfig,
    init_state: dict | None = None,
    encoder_state: dict | None = None,
    log: Callable[[str], None] = print,
) -> torch.nn.Module:
    """Train for ``tc.steps`` batches drawn from weighted sample pools.

    ``pools``: (samples, weight) pairs; each batch element picks a pool by weight,
    then a sample from it, so a small pool (the pseudo-labelled scalp photos) can be
    weighted up against a large one without copying files.
    """
    rng = random.Random(tc.seed)
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed)
    net = build_unet(cfg, encoder_state=encoder_state if init_state is None else None)
    if init_state is not None:
        net.load_state_dict(init_state)
    net = net.to(tc.device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    warm = max(1, tc.steps // 20)
    t0, running = time.time(), 0.0

    def progress(step: int) -> float:
        """Share of the run done: by steps, or by the time budget when that is spent faster."""
        done = min(step, tc.steps) / tc.steps
        return max(done, (time.time() - t0) / tc.max_seconds) if tc.max_seconds else done

    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress(s))))
    )
    weights = [w for _, w in pools]
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for step in range(tc.steps):
        if tc.max_seconds and progress(step) >= 1.0:
            log(f"  unet stopped at step {step}/{tc.steps}: time budget {tc.max_seconds:.0f}s spent "
                "(cosine schedule followed the clock)")
            break
        imgs, labs = [], []
        for _ in range(tc.batch):
            samples = rng.choices(pools, weights=weights)[0][0]
            s = samples[rng.randrange(len(samples))]
            key = id(s)
            if key not in cache:
                cache[key] = _shrink(*s.load(), tc.size * 2)
            img, lab = augment(*cache[key], tc.size, rng)
            imgs.append(img)
            labs.append(lab)
        x = _to_tensor(imgs).to(tc.device)
        y = torch.from_numpy(np.stack(labs)).to(tc.device)
        loss = partial_cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
        if (step + 1) % tc.log_every == 0 or step + 1 == tc.steps:
            log(f"  unet step {step + 1}/{tc.steps} loss {running:.3f} ({time.time() - t0:.0f}s)")
    return net.eval()


def _shrink(rgb: np.ndarray, lab: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep decoded samples in memory at about twice the training size."""
    h, w = lab.shape
    s = max_side / max(h, w)
    if s < 1:
        size = (round(w * s), round(h * s))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
    return rgb, lab


@torch.no_grad()
def predict_probs(net: torch.nn.Module, rgbs: list[np.ndarray], size: int, device: str = "cpu",
                  batch: int = 16) -> list[np.ndarray]:
    """Class probabilities (C x H x W, at each image's own size) for each image."""
    out = []
    net.eval()
    for i in range(0, len(rgbs), batch):
        chunk = rgbs[i : i + batch]
        small = [cv2.resize(r, (size, size), interpolation=cv2.INTER_AREA) for r in chunk]
        p = torch.softmax(net(_to_tensor(small).to(device)).float(), dim=1).cpu().numpy()
        for r, pi in zip(chunk, p):
            h, w = r.shape[:2]
            out.append(np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in pi]))
    return out


def confusion_iou(pred: np.ndarray, target: np.ndarray, n_classes: int = 4) -> np.ndarray:
    """Per-class IoU of label maps (ignored and partially labelled pixels are skipped)."""
    valid = target < n_classes
    p, t = pred[valid].astype(np.int64), target[valid].astype(np.int64)
    cm = np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    return inter / np.maximum(union, 1)
