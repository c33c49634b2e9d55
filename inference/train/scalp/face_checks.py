"""Hand checks of the faces YuNet finds on the scalp photos (``face_checks.json``).

The label rule (``pipeline/scalp/anatomy.py``) calls everything below a found face's eyebrow
line "not scalp". YuNet is often right on profiles and on tilted-down front views, but it
also takes ears, the back of a head, a hair whorl or a bald dome for a face, and the rule
then cuts the wrong half of the head. ``face_checks.json`` records, per scalp_uze photo where
YuNet (``weights/yunet_s_320_320.onnx``, score 0.6, four quarter turns) finds a face, a look
at its best face (``faces[0]``):

* ``"ok"``: a real face whose below-brow half-plane is right (the face, ears and neck side
  below, the skull above): use YuNet's face;
* ``"wrong"``: not a face, or a real face whose landmarks cut the head wrongly: ignore
  YuNet's face; where a real face is visible, ``line`` (two points on the eyebrow line) and
  ``face_side`` (a point below the brows) give the cut by hand;
* ``"added"``: YuNet found nothing but a face is plainly visible: ``line`` and ``face_side``
  give the cut.

Coordinates are in the 640 x 640 photo's pixels; ``hand_cut`` scales them to other shapes.

Re-checking: ``python -m inference.train.scalp.face_checks --out build/face_checks`` writes
the review sheets (photo, YuNet's box and landmarks, its below-brow half-plane tinted red,
the hand line and its half-plane tinted blue) and ``detections.json``; ``--missed`` draws the
photos where YuNet finds no face instead (to look for faces it missed), ``--per-sheet``,
``--cols`` and ``--side`` size the sheets. The checks of 2026-12 were made on sheets of 8
tiles of 300 px, every unclear tile looked at again at full size.

Example:
    >>> entry = {"status": "added", "line": [[0, 10], [20, 10]], "face_side": [5, 15]}
    >>> cut = hand_cut(entry, (640, 640))
    >>> cut[:, 0].nonzero()[0].tolist()[:3], hand_cut(entry, (320, 320))[:, 0].nonzero()[0].tolist()[:2]
    ([11, 12, 13], [5, 6])
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inference.pipeline.scalp.anatomy import BROW_OFFSET, below_brows
from inference.train.shared import shared_dir
from inference.types import Face

CHECKS = Path(__file__).with_name("face_checks.json")
STATUSES = ("ok", "wrong", "added")
REF_SIDE = 640  # the photos' side, in which the hand points are given
VIEWS = ("Top-Down", "Back", "Front", "Left", "Right")
SCORE = 0.6  # the detector threshold the checks were made with
LANDMARK_COLOURS = ((255, 0, 0), (0, 200, 0), (255, 255, 0), (255, 0, 255), (0, 255, 255))  # RGB
LANDMARK_NAMES = ("R-eye", "L-eye", "nose", "R-mouth", "L-mouth")


def read_face_checks(path: Path = CHECKS) -> dict[str, dict]:
    """The checked photos: file name -> {status, score, line, face_side, note}."""
    return json.loads(Path(path).read_text())["photos"]


def use_detector(entry: dict | None) -> bool:
    """Whether YuNet's face may be used for a photo (not checked: yes)."""
    return entry is None or entry.get("status") == "ok"


def hand_cut(entry: dict, shape: Sequence[int]) -> np.ndarray:
    """The half-plane on the face side of the entry's hand line, as a boolean mask of
    ``shape`` (the points are in 640 x 640 pixels and are scaled to the shape); all False
    without a hand line."""
    h, w = int(shape[0]), int(shape[1])
    line, side = entry.get("line"), entry.get("face_side")
    if not line or not side:
        return np.zeros((h, w), bool)
    sx, sy = w / REF_SIDE, h / REF_SIDE

    def at(x: float, y: float) -> tuple[float, float]:  # a 640 px pixel position in the shape's pixels
        return (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5

    (x1, y1), (x2, y2) = (at(x, y) for x, y in line)
    fx, fy = at(*side)
    nx, ny = -(y2 - y1), x2 - x1  # a normal of the line
    if nx == 0 and ny == 0:
        return np.zeros((h, w), bool)
    if (fx - x1) * nx + (fy - y1) * ny < 0:
        nx, ny = -nx, -ny
    xs = (np.arange(w, dtype=np.float32) - x1) * nx
    ys = (np.arange(h, dtype=np.float32) - y1) * ny
    return (ys[:, None] + xs[None, :]) > 0


def scalp_photos(root: Path | None = None) -> list[Path]:
    """Every scalp_uze photo, train then valid, sorted by name."""
    root = Path(root) if root else shared_dir() / "datasets/scalp_uze"
    return [p for split in ("train", "valid") for p in sorted((root / split).glob("*.jpg"))]


def view_of(name: str) -> str:
    """The view in a scalp_uze file name (``12-Left_jpg.rf...`` -> ``Left``, ``31Front_jpg...`` ->
    ``Front``, ``3-Top-Down_jpg...`` -> ``Top-Down``)."""
    stem = name.split("_jpg", 1)[0]
    return next((v for v in VIEWS if stem.endswith(v)), "?")


def detect_all(photos: Sequence[Path], weights: Path = Path("weights/yunet_s_320_320.onnx"),
               score: float = SCORE) -> dict[str, Face | None]:
    """YuNet's best face per photo (None without one), as the checks were made."""
    from inference.models.face_detector import FaceDetector

    det = FaceDetector(weights, score=score)
    out: dict[str, Face | None] = {}
    for p in photos:
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        faces = det.detect(rgb)
        out[p.name] = faces[0] if faces else None
    return out


def brow_line(face: Face, reach: float = 2000.0) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Two far points on the face's eyebrow line (as ``anatomy.below_brows`` draws it)."""
    eyes, mouth = np.asarray(face.eyes, np.float64), np.asarray(face.mouth, np.float64)
    up = eyes - mouth
    d = float(np.linalg.norm(up))
    if d < 1:
        return None
    up /= d
    c = eyes + BROW_OFFSET * d * up
    along = np.array([-up[1], up[0]])
    return tuple(c - reach * along), tuple(c + reach * along)


def _tint(img: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], alpha: float = 0.35) -> None:
    img[mask] = (img[mask] * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)


def render_tile(rgb: np.ndarray, face: Face | None, entry: dict | None = None, title: str = "",
                side: int = 300) -> np.ndarray:
    """One review tile (RGB, ``side`` px, plus a caption strip): the photo, YuNet's face box and
    landmarks (R-eye red, L-eye green, nose yellow, mouth corners magenta / cyan), its below-brow
    half-plane tinted red; a hand line (if any) drawn blue with its face side tinted blue."""
    img = rgb.copy()
    if face is not None:
        _tint(img, below_brows(img.shape, face), (255, 0, 0), 0.25)
    if entry and entry.get("line"):
        _tint(img, hand_cut(entry, img.shape), (0, 80, 255), 0.25)
    s = side / max(img.shape[:2])
    img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    if face is not None:
        brow = brow_line(face)
        if brow is not None:
            (x1, y1), (x2, y2) = brow
            cv2.line(img, (round(x1 * s), round(y1 * s)), (round(x2 * s), round(y2 * s)), (255, 40, 40), 2)
        b = face.box
        cv2.rectangle(img, (round(b.x1 * s), round(b.y1 * s)), (round(b.x2 * s), round(b.y2 * s)), (255, 255, 255), 1)
        for (x, y), c, n in zip(face.landmarks, LANDMARK_COLOURS, LANDMARK_NAMES):
            cv2.circle(img, (round(x * s), round(y * s)), 4, c, -1)
            cv2.circle(img, (round(x * s), round(y * s)), 4, (0, 0, 0), 1)
            if n in ("R-eye", "L-eye"):
                cv2.putText(img, n[0], (round(x * s) + 5, round(y * s) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1)
    if entry and entry.get("line"):
        (x1, y1), (x2, y2) = entry["line"]
        cv2.line(img, (round(x1 * s), round(y1 * s)), (round(x2 * s), round(y2 * s)), (0, 80, 255), 2)
        if entry.get("face_side"):
            fx, fy = entry["face_side"]
            cv2.drawMarker(img, (round(fx * s), round(fy * s)), (0, 80, 255), cv2.MARKER_CROSS, 10, 2)
    for g in range(1, 4):  # a faint 160 px grid (in photo pixels) to read coordinates off
        v = round(g * 160 * s)
        img[v, ::4] = 200
        img[::4, v] = 200
    cap = np.full((30, img.shape[1], 3), 32, np.uint8)
    lines = [title[:48], title[48:96]] if len(title) > 48 else [title]
    for i, t in enumerate(lines):
        cv2.putText(cap, t, (3, 12 + 13 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1)
    return np.concatenate([img, cap], 0)


def render_sheet(items: Sequence[tuple[np.ndarray, Face | None, dict | None, str]], cols: int = 4,
                 side: int = 300) -> np.ndarray:
    """A review sheet (RGB): ``render_tile`` of each (photo, face, entry, title), ``cols`` a row."""
    tiles = [render_tile(rgb, f, e, t, side) for rgb, f, e, t in items]
    th, tw = side + 30, side
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * (th + 4), cols * (tw + 4), 3), 64, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * (th + 4):r * (th + 4) + t.shape[0], c * (tw + 4):c * (tw + 4) + t.shape[1]] = t
    return sheet


def _row(f: Face | None) -> dict | None:
    if f is None:
        return None
    return {"score": round(f.score, 3), "box": [round(v) for v in (f.box.x1, f.box.y1, f.box.x2, f.box.y2)],
            "landmarks": [[round(x), round(y)] for x, y in f.landmarks]}


def write_sheets(out: Path, names: Sequence[str] | None = None, per_sheet: int = 8, cols: int = 4,
                 checks: Path = CHECKS, root: Path | None = None,
                 weights: Path = Path("weights/yunet_s_320_320.onnx"), missed: bool = False,
                 side: int = 300) -> list[Path]:
    """Run YuNet on the scalp photos (or just ``names``), write ``detections.json`` and review
    sheets (``sheet_NNN.png``, the photos with a face or a check entry, ``per_sheet`` each; with
    ``missed``: ``missed_NNN.png``, the photos without a face, to look for faces YuNet missed)
    to ``out``; returns the sheets' paths."""
    out.mkdir(parents=True, exist_ok=True)
    entries = read_face_checks(checks) if Path(checks).exists() else {}
    photos = scalp_photos(root)
    if names is not None:
        keep = set(names)
        photos = [p for p in photos if p.name in keep]
    faces = detect_all(photos, weights)
    (out / "detections.json").write_text(json.dumps({n: _row(f) for n, f in faces.items()}, indent=1))
    if missed:
        todo = [p for p in photos if faces[p.name] is None]
    else:
        todo = [p for p in photos if faces[p.name] is not None or p.name in entries]
    paths = []
    for k in range(0, len(todo), per_sheet):
        items = []
        for i, p in enumerate(todo[k:k + per_sheet]):
            f, e = faces[p.name], entries.get(p.name)
            rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            tag = f"{k + i} {p.parent.name[0]} {p.name.split('_jpg')[0]} {p.name.split('.rf.')[1][:6]}"
            tag += f" s={f.score:.2f}" if f is not None else " none"
            if e:
                tag += f" [{e['status']}]"
            items.append((rgb, f, e, tag))
        path = out / f"{'missed' if missed else 'sheet'}_{k // per_sheet:03d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(render_sheet(items, cols, side), cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/face_checks"))
    ap.add_argument("--checks", type=Path, default=CHECKS)
    ap.add_argument("--per-sheet", type=int, default=8)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--side", type=int, default=300, help="tile side, px")
    ap.add_argument("--missed", action="store_true", help="sheets of the photos without a face")
    ap.add_argument("names", nargs="*", help="only these file names")
    a = ap.parse_args(argv)
    paths = write_sheets(a.out, a.names or None, a.per_sheet, a.cols, checks=a.checks, missed=a.missed, side=a.side)
    print(f"{len(paths)} sheets in {a.out}")


if __name__ == "__main__":
    main()
