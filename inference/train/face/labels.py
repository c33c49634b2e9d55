"""Labels for the face (acne) models, made from ACNE04's lesion boxes.

ACNE04 (Roboflow export, ``../shared/datasets/acne04``) has one box per lesion
(one class: the severity names of the original export are not lesion types) and
a per-image severity in ``image_severity.csv``. This module makes:

* the YOLO set: the train split minus a calibration fold (YOLO's ``val``, which
  also fits the count thresholds and the fusion later), every image a symlink,
  every label file rewritten with class 0 (``acne``);
* lesion masks for the U-Net: an ellipse inside each box (half its sides: the
  boxes are drawn loose around the lesion) is ``LESION``; the rest
  of the box is ``IGNORE`` (a box is looser than the lesion, and where it ends
  is not known); everywhere else ``BACKGROUND``. ACNE04 misses lesions, so the
  background is noisy; the U-Net is measured by what it adds to the detector;
* tiles: the 640 px photos cut into overlapping native-resolution tiles for the
  U-Net's trainer (which rescales a whole sample to its crop size: tiles keep
  lesions near their labelled size instead of shrinking them 2.5 times);
* contact sheets (PNG) with the boxes and masks drawn, and label statistics
  (box sizes, lesion counts per severity level) for the failure analysis.
"""
from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference.datasets import AcneRow, read_acne_index, read_boxes
from inference.models.yolo import box_iou
from inference.pipeline.face.count import MASK_FILL
from inference.pipeline.face.grade import HAYASHI

from ..common import contact_sheet
from ..segdata import IGNORE, SegSample
from ..yolo_trainer import write_data_yaml
from .context import FaceRun

CALIB_FRACTION = 0.2  # the train split's share held out for calibration (the detector's val set)
BACKGROUND, LESION = 0, 1
LESION_CLASSES = ("background", "lesion")
DETECTOR_NAMES = ("acne",)
ELLIPSE_FILL = MASK_FILL  # ellipse axes as a share of the box's sides (boxes are loose), as the pipeline draws them
LEVELS = (0, 1, 2, 3)  # ACNE04 / Hayashi: mild, moderate, severe, very severe


def level_of_count(count: float, thresholds=HAYASHI) -> int:
    """Hayashi level from a lesion count: 0-5 mild, 6-20 moderate, 21-50 severe, over 50 very severe."""
    return int(sum(count > t for t in thresholds))


def one_class_label(label: Path) -> str:
    """The label file's lines with every class id set to 0 (one class: acne)."""
    if not Path(label).exists():
        return ""
    lines = [line.split() for line in Path(label).read_text().split("\n")]
    return "".join("0 " + " ".join(p[1:5]) + "\n" for p in lines if len(p) >= 5)


def lesion_mask(shape: tuple[int, int], boxes: np.ndarray, fill: float = ELLIPSE_FILL) -> np.ndarray:
    """H x W uint8: LESION inside an ellipse in each box, IGNORE in the rest of the box, else BACKGROUND."""
    h, w = shape[:2]
    m = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in boxes:  # the whole box first: unknown
        m[int(np.floor(y1)) : int(np.ceil(y2)), int(np.floor(x1)) : int(np.ceil(x2))] = IGNORE
    for x1, y1, x2, y2 in boxes:
        c = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
        ax = (max(1, int(round((x2 - x1) * fill / 2))), max(1, int(round((y2 - y1) * fill / 2))))
        cv2.ellipse(m, c, ax, 0, 0, 360, LESION, -1)
    return m


@dataclass(frozen=True)
class TileSample(SegSample):
    """A native-resolution tile of a photo with its lesion mask (``SegSample`` interface)."""

    label: Path | None = None
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # x1 y1 x2 y2

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        bgr = cv2.imread(str(self.image), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        mask = lesion_mask((h, w), read_boxes(self.label, w, h))
        x1, y1, x2, y2 = self.window
        rgb = cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(rgb), np.ascontiguousarray(mask[y1:y2, x1:x2])


def tile_windows(width: int, height: int, tile: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Windows of ``tile`` px covering the photo, overlapping by about ``overlap``."""
    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        k = int(np.ceil((n - tile) / (tile * (1 - overlap)))) + 1
        return sorted({int(round(i * (n - tile) / (k - 1))) for i in range(k)})

    return [(x, y, min(width, x + tile), min(height, y + tile)) for y in starts(height) for x in starts(width)]


def tile_samples(rows: list[AcneRow], tile: int = 320, overlap: float = 0.25) -> list[TileSample]:
    out = []
    for r in rows:
        h, w = _image_size(r.image)
        for win in tile_windows(w, h, tile, overlap):
            out.append(TileSample(r.image, None, "acne", label=r.label, window=win))
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def build_yolo_set(rows: list[AcneRow], calib: set[str], yolo_dir: Path) -> Path:
    """``images/{train,val}`` symlinks and one-class labels; ``val`` is the calibration fold."""
    if yolo_dir.exists():
        shutil.rmtree(yolo_dir)
    for r in rows:
        part = "val" if r.filename in calib else "train"
        img = yolo_dir / "images" / part / r.image.name
        img.parent.mkdir(parents=True, exist_ok=True)
        img.symlink_to(r.image.resolve())
        txt = yolo_dir / "labels" / part / (r.image.stem + ".txt")
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text(one_class_label(r.label))
    return write_data_yaml(yolo_dir, DETECTOR_NAMES)


def calibration_split(rows: list[AcneRow], fraction: float, seed: int) -> set[str]:
    """A calibration fold stratified by severity level (one copy per source photo: no groups)."""
    rng = random.Random(seed)
    held = set()
    for lv in LEVELS:
        names = sorted(r.filename for r in rows if r.level == lv)
        rng.shuffle(names)
        held.update(names[: int(round(fraction * len(names)))])
    return held


# ---------------------------------------------------------------- statistics

SIZE_BINS = (0, 8, 12, 16, 24, 32, 48, 64, 96, 10_000)


def label_stats(rows: list[AcneRow]) -> dict:
    """Box sizes (sqrt of area, px), lesion counts per level and the Hayashi grade of the
    labelled counts (the ceiling for a perfect counter), per split."""
    out = {}
    for split in sorted({r.split for r in rows}):
        rs = [r for r in rows if r.split == split]
        sides, counts, overlaps = [], [], 0
        for r in rs:
            h, w = _image_size(r.image)
            b = read_boxes(r.label, w, h)
            counts.append(len(b))
            sides += np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).tolist()
            overlaps += _overlapping_pairs(b)
        sides, counts = np.array(sides), np.array(counts)
        levels = np.array([r.level for r in rs])
        pred = np.array([level_of_count(c) for c in counts])
        out[split] = {
            "photos": len(rs),
            "boxes": int(len(sides)),
            "box_side_px_percentiles": _percentiles(sides, ("p5", "p25", "p50", "p75", "p95"), (5, 25, 50, 75, 95)),
            "box_side_histogram": {"bins": list(SIZE_BINS), "counts": np.histogram(sides, SIZE_BINS)[0].tolist()},
            "box_pairs_iou_over_0.5": int(overlaps),
            "count_by_level": {str(lv): _pct(counts[levels == lv]) for lv in LEVELS if (levels == lv).any()},
            "hayashi_on_label_counts": {"accuracy4": round(float((pred == levels).mean()), 4),
                                        "accuracy3": round(float((grade3(pred) == grade3(levels)).mean()), 4)},
        }
    return out


def grade3(levels: np.ndarray) -> np.ndarray:
    """LOW / MIDDLE / HIGH (0, 1, 2) of Hayashi levels: severe and very severe are both HIGH."""
    return np.minimum(levels, 2)


def _percentiles(v: np.ndarray, names: tuple[str, ...], qs: tuple[float, ...]) -> dict:
    return dict(zip(names, np.percentile(v, qs).round(1).tolist())) if len(v) else {}


def _pct(v: np.ndarray) -> dict:
    return {"n": int(len(v)), **_percentiles(v, ("min", "p10", "median", "p90", "max"), (0, 10, 50, 90, 100))}


def _overlapping_pairs(b: np.ndarray, thr: float = 0.5) -> int:
    if len(b) < 2:
        return 0
    iou = box_iou(b, b)
    return int(np.triu(iou > thr, 1).sum())


# ---------------------------------------------------------------- drawing

def draw_lesions(rgb: np.ndarray, boxes: np.ndarray, text: str, mask: np.ndarray | None = None,
                 pred: np.ndarray | None = None, tile: int = 240) -> np.ndarray:
    """Labelled boxes (yellow), mask (red; unknown grey) and optional predicted boxes (cyan)."""
    out = rgb.astype(np.float32).copy()
    if mask is not None:
        for cls, col in ((LESION, (255, 40, 40)), (IGNORE, (128, 128, 128))):
            sel = mask == cls
            out[sel] = 0.6 * out[sel] + 0.4 * np.array(col, np.float32)
    out = out.astype(np.uint8)
    t = max(1, rgb.shape[0] // 320)
    for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4).astype(int):
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 230, 0), t)
    if pred is not None:
        for x1, y1, x2, y2 in np.asarray(pred).reshape(-1, 4).astype(int):
            cv2.rectangle(out, (x1, y1), (x2, y2), (0, 230, 255), t)
    out = cv2.resize(out, (tile, tile * rgb.shape[0] // rgb.shape[1]), interpolation=cv2.INTER_AREA)
    out = cv2.resize(out, (tile, tile)) if out.shape[0] != tile else out
    cv2.rectangle(out, (0, 0), (tile, 16), (0, 0, 0), -1)
    cv2.putText(out, text[:40], (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_contact_sheet(rows: list[AcneRow], path: Path, n: int = 48, seed: int = 0,
                        predictions: dict[str, np.ndarray] | None = None) -> Path | None:
    """``n`` random photos with their boxes and masks (and predictions where given) in one PNG."""
    if not rows or n <= 0:
        return None
    pick = random.Random(seed).sample(rows, min(n, len(rows)))
    tiles = []
    for r in pick:
        rgb = cv2.cvtColor(cv2.imread(str(r.image), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        b = read_boxes(r.label, rgb.shape[1], rgb.shape[0])
        tag = f"{r.stem.split('_jpg')[0]} L{r.level} n={len(b)}"
        pred = (predictions or {}).get(r.filename)
        if pred is not None:
            tag += f" p={len(pred)}"
        tiles.append(draw_lesions(rgb, b, tag, lesion_mask(rgb.shape, b), pred))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), contact_sheet(tiles, cols=8))
    return path


# ---------------------------------------------------------------- the run's photos and the stage

@dataclass(frozen=True)
class FacePhotos:
    """ACNE04 divided for one run: ``fit`` trains the detector and the U-Net, ``calib`` (the
    detector's val set) calibrates the count, ``valid`` is only evaluated."""

    all: list[AcneRow]
    fit: list[AcneRow]
    calib: list[AcneRow]
    valid: list[AcneRow]

    @property
    def train(self) -> list[AcneRow]:
        return [r for r in self.all if r.split == "train"]

    @property
    def calib_names(self) -> set[str]:
        return {r.filename for r in self.calib}


def read_photos(run: FaceRun) -> FacePhotos:
    """ACNE04 (``--limit`` per split) with a calibration fold stratified by severity."""
    rows = read_acne_index(run.shared / "datasets/acne04")
    if run.args.limit:
        rows = [r for s in ("train", "valid") for r in [r for r in rows if r.split == s][: run.args.limit]]
    train = [r for r in rows if r.split == "train"]
    calib = calibration_split(train, CALIB_FRACTION, run.args.seed)
    return FacePhotos(rows, [r for r in train if r.filename not in calib], [r for r in train if r.filename in calib],
                      [r for r in rows if r.split == "valid"])


def labels_stage(run: FaceRun, photos: FacePhotos) -> Path:
    """The YOLO set (``build/face/yolo``; returns its data.yaml), a contact sheet of the train
    split and the label statistics."""
    data = build_yolo_set(photos.train, photos.calib_names, run.build / "yolo")
    sheet = write_contact_sheet(photos.train, run.build / "sheets" / "face_train.png", run.args.sheets, run.args.seed)
    run.log.set("labels", {"photos": len(photos.all), "train": len(photos.fit), "calibration": len(photos.calib),
                           "valid": len(photos.valid), "contact_sheet": str(sheet) if sheet else None,
                           "stats": label_stats(photos.all)})
    return data
