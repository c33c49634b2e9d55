"""Labels for the scalp models, made from scalp_uze's image-level grades.

scalp_uze has no boxes and no masks. This module makes them:

* masks in the answer's classes (background, hair, scalp, other skin): the round-1 U-Net
  labels each photo (pseudo-labels; pixels it is unsure of stay unlabelled), then what is
  known for sure is written over it: below a checked face's eyebrow line skin is other skin
  (the faces YuNet finds, checked by hand in ``face_checks.json``, where a person also drew
  the line YuNet missed or got wrong); the ears and necks a person outlined in
  ``other_skin.json`` are other skin; on a photo where a person settled where the other
  skin is (``settled``), the rest of the skin is scalp; photos a person marked wrong in
  ``corrections.csv`` are dropped;
* boxes: the hair-bearing region of the head = the largest connected region of hair and
  scalp (other skin and the face side of the line removed), classed with the photo's grade.

Contact sheets (PNG) of random photos with the labels drawn are written for the look-over
that every label set gets (``pseudo_labels``, the training stage).
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference.models.face_detector import FaceDetector
from inference.pipeline.scalp.anatomy import below_brows, face_cut

from ..common import contact_sheet, read_rgb
from ..segdata import BACKGROUND, HAIR, IGNORE, OTHER_SKIN, SCALP
from ..unet_trainer import predict_probs
from .context import ScalpRun
from .face_checks import hand_cut, read_face_checks, use_detector
from .other_skin import other_skin_mask, read_other_skin

CORRECTIONS = Path(__file__).with_name("corrections.csv")
CONFIDENT = 0.6  # pixels whose best class is less likely than this stay unlabelled
MIN_HEAD_FRACTION = 0.04  # a head region smaller than this share of the photo is not a usable box
LABEL_FACE_SCORE = 0.6  # YuNet's faces are used down to this score: face_checks.json checked them all
YUNET = "pretrained/yunet/yunet_s_320_320.onnx"  # in the shared data (the same file as weights/)


@dataclass
class ScalpLabel:
    filename: str
    split: str
    view: str
    grade: str
    mask: np.ndarray  # uint8: segdata's classes (0 bg, 1 hair, 2 scalp, 3 other skin), 255 unlabelled
    box: tuple[int, int, int, int] | None  # x1 y1 x2 y2 in pixels, or None when no usable region
    face_found: bool  # a checked face or a hand line split the photo
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


@dataclass(frozen=True)
class HandLabels:
    """What people checked or drew, by file name."""

    faces: dict[str, dict]  # face_checks.json
    other_skin: dict[str, list[np.ndarray]]  # other_skin.json
    corrections: dict[str, dict]  # corrections.csv

    @classmethod
    def read(cls) -> HandLabels:
        return cls(read_face_checks(), read_other_skin(), read_corrections())


def face_side(rgb: np.ndarray, filename: str, hand: HandLabels, faces: FaceDetector) -> np.ndarray | None:
    """The pixels on the face side of the eyebrow line (None: no face to go by): YuNet's best face
    where a person found it right (or did not check it), else the line a person drew."""
    entry = hand.faces.get(filename)
    if entry is not None and entry.get("line"):
        return hand_cut(entry, rgb.shape)
    if not use_detector(entry):
        return None
    found = faces.detect(rgb)
    if not found:
        return None
    if entry is None:  # not checked by hand: the product's own guard against a wrong face
        return face_cut(rgb.shape, found[:1], np.ones(rgb.shape[:2], bool))
    return below_brows(rgb.shape, found[0])


def head_box(mask: np.ndarray, cut: np.ndarray | None) -> tuple[tuple[int, int, int, int] | None, np.ndarray]:
    """Box around the largest hair + scalp region (after removing ``cut``)."""
    head = (mask == HAIR) | (mask == SCALP)
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


def settled(row: dict, face: np.ndarray | None, outlined: np.ndarray | None) -> bool:
    """Whether a person has settled where this photo's other skin is, so that the rest of its
    skin is scalp: a checked face line (what lies below it is the face, ears and neck), the
    ears and necks outlined in ``other_skin.json``, or a Top-Down view (their faces at the edge
    were looked for by hand and drawn in ``face_checks.json``; nothing else of a person but
    the head shows from above)."""
    return face is not None or outlined is not None or row["view"] == "Top-Down"


def make_label(row: dict, probs: np.ndarray, face: np.ndarray | None, outlined: np.ndarray | None,
               corrections: dict) -> ScalpLabel:
    """The photo's mask and box from the U-Net's probabilities and what is known for sure: the
    face side of the eyebrow line (``face``), the hand-outlined other skin (``outlined``).

    Skin is taken where the network is sure of skin (scalp and other skin together); which skin
    it is comes from the hand labels where a person settled it (``settled``), and from the
    network only where it is sure of that too. (Round 1 learns scalp against other skin from
    LFW's foreheads and faces; on a bald crown it often cannot tell them apart.)"""
    mask = pseudo_mask(probs)
    skin_p = probs[SCALP] + probs[OTHER_SKIN]
    skin = (skin_p >= CONFIDENT) & (skin_p > probs[HAIR]) & (skin_p > probs[BACKGROUND])
    other = np.zeros(skin.shape, bool)
    for known in (face, outlined):
        if known is not None:
            other |= known
    if settled(row, face, outlined):
        mask[skin] = np.where(other[skin], OTHER_SKIN, SCALP)
    else:
        mask[skin & other] = OTHER_SKIN
    if outlined is not None:  # a person's outline beats the network, unsure pixels included
        mask[outlined & (probs.argmax(0) != HAIR)] = OTHER_SKIN
    head = np.where((mask == HAIR) | (mask == SCALP), HAIR, BACKGROUND).astype(np.uint8)
    box, _ = head_box(head, other if other.any() else None)
    lab = ScalpLabel(row["filename"], row["split"], row["view"], row["grade3"], mask, box, face is not None)
    fix = corrections.get(row["filename"])
    if fix:
        if fix["drop_mask"]:
            lab.dropped = "hand: " + (fix["note"] or "mask wrong")
        if fix["drop_box"]:
            lab.box = None
    return lab  # a photo without a usable box still teaches the U-Net; YOLO skips it


# ---------------------------------------------------------------- drawing

COLOURS = {SCALP: (255, 64, 160), HAIR: (40, 220, 80), OTHER_SKIN: (80, 140, 255), IGNORE: (128, 128, 128)}  # RGB


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
    faces = FaceDetector(run.shared / YUNET, score=LABEL_FACE_SCORE)
    hand = HandLabels.read()
    labels, images = [], {}
    for r in run.rows:
        rgb = read_rgb(r["path"])
        probs = predict_probs(net, [rgb], run.args.seg_infer_size, run.device)[0]
        polygons = hand.other_skin.get(r["filename"])
        outlined = other_skin_mask(polygons, rgb.shape[:2]) if polygons is not None else None
        lab = make_label(r, probs, face_side(rgb, r["filename"], hand, faces), outlined, hand.corrections)
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
