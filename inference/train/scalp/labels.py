"""Labels for the scalp models, made from scalp_uze's image-level grades.

scalp_uze has no boxes and no masks. This module makes them:

* masks: a hair / skin U-Net trained on LFW Part Labels and Figaro1k labels each
  photo (pseudo-labels); pixels it is unsure of are left unlabelled, and photos
  a person marked wrong in ``corrections.csv`` (beside this module) are dropped;
* boxes: the hair-bearing region of the head = the largest connected region of
  hair + skin, with everything below the eyebrows removed where YuNet finds a
  face (a front or side view shows the face, which is not the question), classed
  with the photo's grade.

Contact sheets (PNG) of random photos with the labels drawn are written for the
look-over that every label set gets (``pseudo_labels``, the training stage).
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..common import contact_sheet, read_rgb
from ..segdata import HAIR, IGNORE, SKIN
from ..unet_trainer import predict_probs
from .context import ScalpRun

CORRECTIONS = Path(__file__).with_name("corrections.csv")
CONFIDENT = 0.6  # pixels whose best class is less likely than this stay unlabelled
MIN_HEAD_FRACTION = 0.04  # a head region smaller than this share of the photo is not a usable box
BROW_OFFSET = 0.35  # eyebrows lie about this far above the eyes, in eye-to-mouth distances
MAX_CUT_SHARE = 0.55  # a face cut that removes more of the head than this is ignored


@dataclass
class ScalpLabel:
    filename: str
    split: str
    view: str
    grade: str
    mask: np.ndarray  # uint8, 0 bg / 1 skin / 2 hair / 255 unlabelled
    box: tuple[int, int, int, int] | None  # x1 y1 x2 y2 in pixels, or None when no usable region
    face_found: bool
    dropped: str = ""  # reason, when a person or a rule dropped this label


def read_corrections(path: Path = CORRECTIONS) -> dict[str, dict]:
    """filename -> {"drop_mask": bool, "drop_box": bool, "note": str} from the hand-made corrections file."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    with open(path, newline="") as f:
        for r in csv.DictReader(row for row in f if not row.startswith("#")):
            out[r["filename"].strip()] = {
                "drop_mask": r["action"].strip() in ("drop", "drop_mask"),
                "drop_box": r["action"].strip() in ("drop", "drop_box"),
                "note": r.get("note", "").strip(),
            }
    return out


class FaceFinder:
    """YuNet (OpenCV) faces with landmarks; used only to label training data."""

    def __init__(self, model_path: Path, score: float = 0.7):
        self.det = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score, 0.3, 50)

    def _detect(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        self.det.setInputSize((w, h))
        _, faces = self.det.detect(bgr)
        return np.zeros((0, 15), np.float32) if faces is None else faces

    def faces(self, bgr: np.ndarray) -> np.ndarray:
        """Faces in any of the four right-angle orientations (many photos arrive
        rotated), mapped back to the photo's own coordinates; the orientation with
        the best face wins."""
        h, w = bgr.shape[:2]
        best, best_score = np.zeros((0, 15), np.float32), 0.0
        for k in range(4):
            f = self._detect(np.ascontiguousarray(np.rot90(bgr, k)))
            if len(f) and f[:, 14].max() > best_score:
                best, best_score = _unrotate(f.copy(), k, w, h), float(f[:, 14].max())
        return best


def _unrotate(faces: np.ndarray, k: int, w: int, h: int) -> np.ndarray:
    """Map YuNet boxes and landmarks found in ``np.rot90(img, k)`` back to ``img``."""
    pts = np.concatenate([faces[:, 0:2], faces[:, 0:2] + faces[:, 2:4], faces[:, 4:14]], 1).reshape(len(faces), -1, 2)
    for i in range(k):  # undo one counter-clockwise quarter turn at a time
        # a point (x, y) of rot90(a) comes from (W - 1 - y, x) of a, W the width of a;
        # here a is the photo turned k - 1 - i times
        cur_w = w if (k - 1 - i) % 2 == 0 else h
        x, y = pts[..., 0].copy(), pts[..., 1].copy()
        pts[..., 0], pts[..., 1] = cur_w - 1 - y, x
    x1y1, x2y2 = np.minimum(pts[:, 0], pts[:, 1]), np.maximum(pts[:, 0], pts[:, 1])
    out = faces.copy()
    out[:, 0:2], out[:, 2:4] = x1y1, x2y2 - x1y1
    out[:, 4:14] = pts[:, 2:].reshape(len(faces), -1)
    return out


def below_brows(shape: tuple[int, int], face: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels below the eyebrow line of one YuNet face,
    in the face's own orientation (photos arrive rotated)."""
    lm = face[4:14].reshape(5, 2)  # right eye, left eye, nose, right mouth, left mouth
    eyes, mouth = lm[:2].mean(0), lm[3:5].mean(0)
    up = eyes - mouth
    d = float(np.linalg.norm(up))
    if d < 1:
        return np.zeros(shape, bool)
    up /= d
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    proj = (xx - eyes[0]) * up[0] + (yy - eyes[1]) * up[1]
    return proj < BROW_OFFSET * d


def head_box(mask: np.ndarray, cut: np.ndarray | None) -> tuple[tuple[int, int, int, int] | None, np.ndarray]:
    """Box around the largest hair + skin region (after removing ``cut``)."""
    head = (mask == HAIR) | (mask == SKIN)
    if cut is not None:
        head &= ~cut
    head = head.astype(np.uint8)
    k = max(3, int(0.02 * max(mask.shape)) | 1)
    head = cv2.morphologyEx(head, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    head = cv2.morphologyEx(head, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    n, cc, stats, _ = cv2.connectedComponentsWithStats(head, connectivity=8)
    if n <= 1:
        return None, head.astype(bool)
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[i, cv2.CC_STAT_AREA] < MIN_HEAD_FRACTION * mask.size:
        return None, cc == i
    x, y, w, h = stats[i, :4]
    return (int(x), int(y), int(x + w), int(y + h)), cc == i


def pseudo_mask(probs: np.ndarray) -> np.ndarray:
    """Argmax of U-Net probabilities, unsure pixels unlabelled."""
    lab = probs.argmax(0).astype(np.uint8)
    lab[probs.max(0) < CONFIDENT] = IGNORE
    return lab


def make_label(row: dict, rgb: np.ndarray, probs: np.ndarray, faces: np.ndarray, corrections: dict) -> ScalpLabel:
    mask = pseudo_mask(probs)
    full = probs.argmax(0).astype(np.uint8)
    head = (full == HAIR) | (full == SKIN)
    cut = None
    for f in faces:
        c = below_brows(mask.shape, f)
        # YuNet sometimes takes an ear or an upside-down face for a face, and its
        # landmarks then point anywhere: a cut that takes most of the head is wrong
        if (c & head).sum() > MAX_CUT_SHARE * max(head.sum(), 1):
            continue
        cut = c if cut is None else (cut | c)
    box, _ = head_box(full, cut)
    lab = ScalpLabel(row["filename"], row["split"], row["view"], row["grade3"], mask, box, len(faces) > 0)
    fix = corrections.get(row["filename"])
    if fix:
        if fix["drop_mask"]:
            lab.dropped = "hand: " + (fix["note"] or "mask wrong")
        if fix["drop_box"]:
            lab.box = None
    return lab  # a photo without a usable box still teaches the U-Net; YOLO skips it


# ---------------------------------------------------------------- drawing

COLOURS = {SKIN: (255, 64, 160), HAIR: (40, 220, 80), IGNORE: (128, 128, 128)}  # RGB


def draw_label(rgb: np.ndarray, mask: np.ndarray | None, box, text: str, tile: int = 200) -> np.ndarray:
    out = rgb.astype(np.float32).copy()
    if mask is not None:
        for cls, col in COLOURS.items():
            sel = mask == cls
            out[sel] = 0.55 * out[sel] + 0.45 * np.array(col, np.float32)
    out = out.astype(np.uint8)
    if box is not None:
        cv2.rectangle(out, box[:2], box[2:], (255, 230, 0), max(2, rgb.shape[0] // 160))
    out = cv2.resize(out, (tile, tile), interpolation=cv2.INTER_AREA)
    cv2.rectangle(out, (0, 0), (tile, 16), (0, 0, 0), -1)
    cv2.putText(out, text[:34], (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_contact_sheets(labels: list[ScalpLabel], images: dict[str, np.ndarray], out_dir: Path, n: int = 48,
                         seed: int = 0, per_sheet: int = 48) -> list[Path]:
    """At least ``n`` random labelled photos, ``per_sheet`` to a PNG, file name on each tile."""
    rng = random.Random(seed)
    pick = rng.sample(labels, min(n, len(labels)))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(0, len(pick), per_sheet):
        tiles = []
        for lab in pick[s : s + per_sheet]:
            stem = lab.filename.split("_jpg")[0]
            tag = f"{stem} {lab.grade}" + (" X" if lab.dropped else "")
            tiles.append(draw_label(images[lab.filename], lab.mask, lab.box, tag))
        p = out_dir / f"scalp_labels_{s // per_sheet:02d}.png"
        cv2.imwrite(str(p), contact_sheet(tiles))
        paths.append(p)
    return paths


def save_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask)


def yolo_line(box: tuple[int, int, int, int], cls: int, w: int, h: int) -> str:
    x1, y1, x2, y2 = box
    return f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"


# ---------------------------------------------------------------- the stage

def pseudo_labels(run: ScalpRun, net) -> list[ScalpLabel]:
    """Label every photo with the round-1 U-Net ``net`` (masks under ``build/scalp/masks``),
    draw the contact sheets: a random draw of train labels, and the valid subset whose masks
    the evaluation compares with (``build/scalp/check_subset.txt``)."""
    build, seed = run.build, run.args.seed
    faces = FaceFinder(run.shared / "pretrained/yunet/yunet_s_320_320.onnx")
    corrections = read_corrections()
    labels, images = [], {}
    for r in run.rows:
        rgb = read_rgb(r["path"])
        probs = predict_probs(net, [rgb], run.args.seg_infer_size, run.device)[0]
        lab = make_label(r, rgb, probs, faces.faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), corrections)
        labels.append(lab)
        images[r["filename"]] = cv2.resize(rgb, (320, 320 * rgb.shape[0] // rgb.shape[1]), interpolation=cv2.INTER_AREA)
        if not lab.dropped:
            save_mask(build / "masks" / (Path(r["filename"]).stem + ".png"), lab.mask)
    small = {}
    for lab in labels:
        im = images[lab.filename]
        s = im.shape[1] / lab.mask.shape[1]
        small[lab.filename] = (
            cv2.resize(lab.mask, (im.shape[1], im.shape[0]), interpolation=cv2.INTER_NEAREST),
            tuple(int(round(v * s)) for v in lab.box) if lab.box else None,
        )
    shown = []
    for split, tag in (("train", "train"), ("valid", "check")):
        pool = [lab for lab in labels if lab.split == split]
        rng = random.Random(seed)
        pick = rng.sample(pool, min(run.args.sheets, len(pool)))
        tiles = []
        for lab in pick:
            m, b = small[lab.filename]
            stem = lab.filename.split("_jpg")[0]
            tiles.append(draw_label(images[lab.filename], m, b, f"{stem} {lab.grade}" + (" X" if lab.dropped else "")))
        if tiles:
            p = build / "sheets" / f"scalp_{tag}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(p), contact_sheet(tiles))
            shown.append(str(p))
        if split == "valid":
            (build / "check_subset.txt").write_text("\n".join(lab.filename for lab in pick if not lab.dropped))
    dropped = [(lab.filename, lab.dropped) for lab in labels if lab.dropped]
    run.log.set("labels", {"photos": len(labels), "dropped": len(dropped), "dropped_list": dropped,
                           "contact_sheets": shown, "faces_found": sum(lab.face_found for lab in labels),
                           "no_box": [lab.filename for lab in labels if lab.box is None]})
    return labels
