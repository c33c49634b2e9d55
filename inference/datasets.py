"""The layouts of the labelled photo folders (under a root the caller names).

Training, evaluation and the benchmark read them; the service never does. Where the data lies
by default is the training's to say (``inference.train.shared``).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.types import VIEWS

# where each dataset keeps its valid-split photos, under a datasets root that the caller names
VALID_PHOTOS = {"scalp_uze": ("scalp_uze", "valid"), "acne04": ("acne04", "valid", "images")}
_VIEW = re.compile(r"^(\d+)-?(" + "|".join(map(re.escape, VIEWS)) + r")[_.]")  # the views: inference.types


def view_of(filename: str) -> str:
    """The view in a scalp_uze file name ("6-Top-Down_jpg.rf....jpg", also "31Left_jpg...")."""
    m = _VIEW.match(filename)
    return m.group(2) if m else "unknown"


def person_number(filename: str) -> str:
    """The number before the view (shared by one person's five views; reused across people)."""
    m = _VIEW.match(filename)
    return m.group(1) if m else filename


def valid_photos(datasets_root: Path, dataset: str) -> list[Path]:
    """The valid-split JPEGs of ``dataset`` ("scalp_uze" or "acne04") under ``datasets_root``,
    sorted; empty when the folder is not there."""
    return sorted(Path(datasets_root).joinpath(*VALID_PHOTOS[dataset]).glob("*.jpg"))


def read_scalp_rows(data: Path, split: str | None = None) -> list[dict]:
    """Rows of a scalp_uze-style ``labels.csv`` whose image exists, with ``path`` and ``view``."""
    rows = []
    with open(data / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            if split and r["split"] != split:
                continue
            p = data / r["split"] / r["filename"]
            if p.exists():
                rows.append({**r, "path": str(p), "view": view_of(r["filename"])})
    return rows


# -- ACNE04 (face) ------------------------------------------------------------------------

def level_to_grade3(level: int) -> str:
    return ("LOW", "MIDDLE", "HIGH", "HIGH")[int(level)]


@dataclass(frozen=True)
class AcneRow:
    split: str
    filename: str
    image: Path
    label: Path
    level: int  # 0..3
    grade3: str  # LOW / MIDDLE / HIGH
    n_boxes: int  # as listed in image_severity.csv

    @property
    def stem(self) -> str:
        return Path(self.filename).stem


def read_acne_index(root: Path, split: str | None = None) -> list[AcneRow]:
    """Rows of ``image_severity.csv`` whose image exists (``split`` to pick one)."""
    rows = []
    with open(Path(root) / "image_severity.csv", newline="") as f:
        for r in csv.DictReader(f):
            if split and r["split"] != split:
                continue
            img = Path(root) / r["split"] / "images" / r["filename"]
            if not img.exists():
                continue
            level = int(str(r.get("acne04_level", "0")).strip()[-1])
            grade = r.get("grade3") or level_to_grade3(level)
            label = Path(root) / r["split"] / "labels" / (img.stem + ".txt")
            rows.append(AcneRow(r["split"], r["filename"], img, label, level, grade, int(r.get("n_lesion_boxes") or 0)))
    return rows


def read_boxes(label: Path, width: int, height: int) -> np.ndarray:
    """YOLO txt (any class ids) -> N x 4 float array of pixel boxes x1 y1 x2 y2."""
    if not Path(label).exists():
        return np.zeros((0, 4), np.float32)
    out = []
    for line in Path(label).read_text().split("\n"):
        parts = line.split()
        if len(parts) < 5:
            continue
        cx, cy, w, h = (float(v) for v in parts[1:5])
        out.append(((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height))
    b = np.array(out, np.float32).reshape(-1, 4)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    return b
