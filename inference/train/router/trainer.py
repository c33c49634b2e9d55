"""The router's trainer: its photos in memory, their augmentation, the linear head on frozen
ImageNet features (then optional fine-tuning), and the report per class and per source."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from inference.datasets import read_acne_index
from inference.models.router import ROUTER_CLASSES, ROUTER_SIZE, build_router_net
from inference.models.unet import preprocess

from ..common import read_rgb
from ..segdata import read_scalp_index

STORE_SIDE = 288  # photos are kept in memory at this size for the augmentations


@dataclass
class RouterTrainConfig:
    size: int = ROUTER_SIZE
    copies: int = 2  # augmented copies per training photo (plus the photo itself)
    head_steps: int = 200  # L-BFGS iterations of the linear head
    head_l2: float = 1e-3
    finetune_steps: int = 0
    batch: int = 32
    lr: float = 3e-4
    neither_train: int = 600
    neither_valid: int = 200
    seed: int = 0
    device: str = "cpu"


@dataclass
class RouteItem:
    rgb: np.ndarray  # at most STORE_SIDE px
    label: int  # index into ROUTER_CLASSES
    source: str  # scalp:<view> | face | neither:<kind>
    name: str


def shrink(rgb: np.ndarray, side: int = STORE_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    if s < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def dataset_items(shared: Path, split: str, limit: int = 0) -> list[RouteItem]:
    """Scalp and face photos of one split (``limit`` per source for smoke tests)."""
    scalp = [r for r in read_scalp_index(shared / "datasets/scalp_uze") if r["split"] == split]
    face = read_acne_index(shared / "datasets/acne04", split)
    if limit:
        scalp, face = scalp[:limit], face[:limit]
    items = [RouteItem(shrink(read_rgb(Path(r["path"]))), 0, f"scalp:{r['view']}", r["filename"]) for r in scalp]
    items += [RouteItem(shrink(read_rgb(r.image)), 1, "face", r.filename) for r in face]
    return items


def random_crop(rgb: np.ndarray, rng: random.Random, min_scale: float = 0.55) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = math.sqrt(rng.uniform(min_scale, 1.0))
    ar = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    ch, cw = min(h, int(h * s / math.sqrt(ar))), min(w, int(w * s * math.sqrt(ar)))
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    return rgb[y : y + ch, x : x + cw]


def augment(rgb: np.ndarray, rng: random.Random) -> np.ndarray:
    im = random_crop(rgb, rng)
    if rng.random() < 0.5:
        im = im[:, ::-1]
    if rng.random() < 0.3:  # photos arrive in any orientation (EXIF is not always there)
        im = np.rot90(im, rng.randint(1, 3))
    im = im.astype(np.float32) * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    g = im.mean(2, keepdims=True)
    im = g + (im - g) * rng.uniform(0.7, 1.3)
    if rng.random() < 0.2:
        im = cv2.GaussianBlur(im, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(im, 0, 255).astype(np.uint8)


@torch.no_grad()
def pooled_features(net: torch.nn.Module, images: list[np.ndarray], size: int, device: str,
                    batch: int = 32) -> torch.Tensor:
    net.eval()
    out = []
    for i in range(0, len(images), batch):
        x = preprocess(images[i : i + batch], size).to(device)
        out.append(F.adaptive_avg_pool2d(net.features(x), 1).flatten(1).float().cpu())
    return torch.cat(out)


def train_router(items: list[RouteItem], imagenet_state: dict, tc: RouterTrainConfig, log=print) -> torch.nn.Module:
    """Linear head on frozen ImageNet features (augmented copies), then optional fine-tuning."""
    rng = random.Random(tc.seed)
    torch.manual_seed(tc.seed)
    net = build_router_net(len(ROUTER_CLASSES), None)
    state = {k: v for k, v in imagenet_state.items() if not k.startswith("classifier.")}
    net.load_state_dict(state, strict=False)
    net = net.to(tc.device)
    t0 = time.time()
    imgs, ys = [], []
    for it in items:
        imgs.append(it.rgb)
        ys.append(it.label)
        for _ in range(tc.copies):
            imgs.append(augment(it.rgb, rng))
            ys.append(it.label)
    feats = pooled_features(net, imgs, tc.size, tc.device)
    y = torch.tensor(ys)
    log(f"  router features {tuple(feats.shape)} in {time.time() - t0:.0f}s")
    counts = torch.bincount(y, minlength=len(ROUTER_CLASSES)).float()
    cw = counts.sum() / (len(counts) * counts.clamp(min=1))
    head = net.classifier[1]
    # full-batch L-BFGS on the cached features (seconds), L2 on the weights
    fd, yd, cwd = feats.to(tc.device), y.to(tc.device), cw.to(tc.device)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=tc.head_steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(fd), yd, weight=cwd) + tc.head_l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        acc = (head(fd).argmax(1) == yd).float().mean().item()
    log(f"  router head: train accuracy {acc:.4f} ({time.time() - t0:.0f}s)")
    if tc.finetune_steps > 0:
        net.train()
        opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, tc.finetune_steps)
        for step in range(tc.finetune_steps):
            batch = [items[rng.randrange(len(items))] for _ in range(tc.batch)]
            x = preprocess([augment(b.rgb, rng) for b in batch], tc.size).to(tc.device)
            yb = torch.tensor([b.label for b in batch], device=tc.device)
            loss = F.cross_entropy(net(x), yb, weight=cw.to(tc.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if (step + 1) % 50 == 0:
                log(f"  router step {step + 1}/{tc.finetune_steps} loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
    return net.eval()


def routing_report(router, items: list[RouteItem], people: list[tuple[str, np.ndarray]] | None = None) -> dict:
    """Accuracy per class and per source (scalp views, neither kinds); what people photos get."""
    pred = router.classify([it.rgb for it in items])
    out: dict = {"n": len(items)}
    ok = [ROUTER_CLASSES[it.label] == p for it, p in zip(items, pred)]
    out["accuracy"] = round(float(np.mean(ok)), 4) if ok else None
    for c, name in enumerate(ROUTER_CLASSES):
        ks = [k for k, it in enumerate(items) if it.label == c]
        if ks:
            out[f"{name}_accuracy"] = round(float(np.mean([ok[k] for k in ks])), 4)
            out[f"{name}_n"] = len(ks)
    by_source: dict = {}
    for it, p in zip(items, pred):
        d = by_source.setdefault(it.source, {"n": 0, "correct": 0, "routed": {}})
        d["n"] += 1
        d["correct"] += int(ROUTER_CLASSES[it.label] == p)
        d["routed"][p] = d["routed"].get(p, 0) + 1
    out["by_source"] = by_source
    out["errors"] = [(it.name, it.source, p) for it, p in zip(items, pred) if ROUTER_CLASSES[it.label] != p][:40]
    if people:
        probs = router.probabilities([rgb for _, rgb in people])
        out["people"] = {n: {c: round(float(v), 3) for c, v in zip(ROUTER_CLASSES, p)}
                         for (n, _), p in zip(people, probs)}
    return out
