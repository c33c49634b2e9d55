"""Segmentation samples for the scalp U-Net, read from the shared data at training time.

Labels use one convention everywhere, the answer's classes (``SCALP_CLASSES``: 0 background,
1 hair, 2 scalp skin, 3 other skin: face, ears, neck), plus partial labels that name a set
of classes (``PARTIAL``: the loss maximises their summed probability) and ``IGNORE``:

* ``NOT_HAIR``: Figaro1k's "anything but hair" (background or any skin, undecided);
* ``ANY_SKIN``: LFW Part Labels' skin where no face tells scalp from other skin.

LFW Part Labels' skin is split by the face's eyebrow line (``anatomy.below_brows``): below it
other skin (face, ears, neck), above it scalp (a bald or receding head's skin, the forehead
up to the hairline).
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from inference.datasets import view_of
from inference.pipeline.scalp.anatomy import BACKGROUND, HAIR, OTHER_SKIN, SCALP, SCALP_CLASSES, below_brows
from inference.types import Face

SEG_CLASSES = SCALP_CLASSES
NOT_HAIR = 10
ANY_SKIN = 11
PARTIAL = {NOT_HAIR: (BACKGROUND, SCALP, OTHER_SKIN), ANY_SKIN: (SCALP, OTHER_SKIN)}
IGNORE = 255
LFW_BG, LFW_SKIN, LFW_HAIR = 0, 1, 2  # LFW Part Labels' palette indices


def lfw_labels(parts: np.ndarray, face: Face | None) -> np.ndarray:
    """LFW Part Labels' background / skin / hair as this module's labels (module docstring)."""
    lab = np.full(parts.shape, IGNORE, np.uint8)
    lab[parts == LFW_BG] = BACKGROUND
    lab[parts == LFW_HAIR] = HAIR
    skin = parts == LFW_SKIN
    if face is None:
        lab[skin] = ANY_SKIN
    else:
        below = below_brows(parts.shape, face)
        lab[skin & below] = OTHER_SKIN
        lab[skin & ~below] = SCALP
    return lab


@dataclass(frozen=True)
class SegSample:
    image: Path
    mask: Path | None
    source: str  # lfw | figaro | scalp
    mask_array: np.ndarray | None = None  # in-memory label (pseudo-labels)
    face: Face | None = None  # LFW: the face that splits its skin (None: not found, ANY_SKIN)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 image and its label map in the convention above."""
        rgb = cv2.cvtColor(cv2.imread(str(self.image), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if self.mask_array is not None:
            lab = self.mask_array
        elif self.source == "lfw":
            lab = lfw_labels(np.array(Image.open(self.mask)), self.face)
        elif self.source == "figaro":
            m = np.array(Image.open(self.mask).convert("L"))
            lab = np.where(m > 127, HAIR, NOT_HAIR).astype(np.uint8)
        else:
            lab = np.array(Image.open(self.mask))
        if lab.shape[:2] != rgb.shape[:2]:
            lab = cv2.resize(lab, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        return rgb, lab.astype(np.uint8)


def lfw_samples(root: Path, split: str, faces: dict[str, Face | None] | None = None) -> list[SegSample]:
    """LFW Part Labels, official split (``train``, ``validation`` or ``test``); ``faces``: image
    stem -> its face (``lfw_faces``), which splits the skin into scalp and other skin."""
    out = []
    for line in (root / f"parts_{split}.txt").read_text().split("\n"):
        if not line.strip():
            continue
        name, num = line.split()
        stem = f"{name}_{int(num):04d}"
        out.append(SegSample(root / "images" / f"{stem}.jpg", root / "masks" / f"{stem}.png", "lfw",
                             face=(faces or {}).get(stem)))
    return out


def lfw_faces(root: Path, detector, cache: Path | None = None) -> dict[str, Face | None]:
    """Every LFW Part Labels image's best face (``detector``: a ``FaceDetector``), cached as JSON.
    The photos are funneled frontal faces; the detector finds nearly all of them."""
    import json

    from inference.models.face_detector import face_of

    if cache is not None and cache.is_file():
        rows = json.loads(cache.read_text())
    else:
        rows = {}
        for p in sorted((root / "images").glob("*.jpg")):
            raw = detector.raw(cv2.imread(str(p)), orientations=1)
            rows[p.stem] = [float(v) for v in raw[int(raw[:, 14].argmax())]] if len(raw) else None
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(rows))
    return {k: face_of(np.asarray(v, np.float32)) if v is not None else None for k, v in rows.items()}


def figaro_samples(root: Path, split: str) -> list[SegSample]:
    """Figaro1k, ``training`` or ``testing``."""
    d = root / split
    return [
        SegSample(p, d / "masks" / (p.stem + ".png"), "figaro")
        for p in sorted((d / "images").glob("*.jpg"))
        if (d / "masks" / (p.stem + ".png")).exists()
    ]


def read_scalp_index(root: Path) -> list[dict]:
    """Rows of scalp_uze's labels.csv, with the view parsed from the file name."""
    rows = []
    with open(root / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            r = dict(r)
            r["view"] = view_of(r["filename"])
            r["path"] = str(root / r["split"] / r["filename"])
            rows.append(r)
    return rows


def augment(rgb: np.ndarray, lab: np.ndarray, size: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Random scale/crop, any rotation (crown photos come in every orientation),
    flip, and colour jitter; returns ``size`` x ``size`` arrays."""
    h, w = lab.shape
    angle = rng.uniform(-180, 180) if rng.random() < 0.6 else rng.uniform(-15, 15)
    scale = rng.uniform(0.7, 1.3) * size / max(h, w)
    cx, cy = w / 2 + rng.uniform(-0.15, 0.15) * w, h / 2 + rng.uniform(-0.15, 0.15) * h
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    img = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    # outside the source image the label is unknown
    lab = cv2.warpAffine(lab, m, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=IGNORE)
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], lab[:, ::-1]
    img = img.astype(np.float32)
    if rng.random() < 0.4:
        # darker and lighter skin than the training faces show (LFW is mostly light
        # skin; dark skin was read as hair before this): gamma on the whole photo
        img = 255.0 * (img / 255.0) ** rng.uniform(0.7, 2.2)
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)  # contrast, brightness
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.7, 1.3)  # saturation
    img = img * np.array([rng.uniform(0.9, 1.1) for _ in range(3)], dtype=np.float32)  # white balance
    if rng.random() < 0.15:  # colour is not enough to tell skin from hair: texture must count
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(img, 0, 255).astype(np.uint8), np.ascontiguousarray(lab)
