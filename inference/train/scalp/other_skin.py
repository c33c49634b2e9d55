"""Hand-drawn "other skin" on scalp photos (``other_skin.json``): the neck, the ears, and face
skin where the face rule cannot reach.

The face rule (``pipeline/scalp/anatomy.py``) makes everything below a found face's eyebrow
line other skin. On Back views there is no face, and the bare neck and ears look like exposed
scalp to a hair / skin segmenter; on Front and side views where YuNet finds no face the rule
does nothing at all. A person drew polygons around that skin on a set of scalp_uze photos:

* train: about 40 Back views (a spread of people, hair, collars, shoulders, turned photos) and
  every Left / Right / Front view where YuNet (score 0.7) finds no face;
* valid: 12 Back and 9 Left / Right views, a hand-checked subset for the mask IoU per class.

``other_skin.json``: ``{"about": ..., "photos": {filename: {"view", "split", "polygons",
"note"?}}}``; each polygon is ``[[x, y], ...]`` in the 640 x 640 photo's pixels (x right, y
down). An empty list means "checked: no other skin visible"; a photo that is not listed was
not checked. The polygons may overlap (an ear drawn over the neck); their union is the mask.

Review: ``python -m inference.train.scalp.other_skin --out build/other_skin`` writes contact
sheets of every listed photo with its polygons drawn.

Example:
    >>> square = np.array([[100, 100], [139, 100], [139, 139], [100, 139]])  # 640 px coordinates
    >>> m = other_skin_mask([square], (640, 640))
    >>> int(m.sum()), bool(m[120, 120]), bool(m[150, 120])
    (1600, True, False)
    >>> int(other_skin_mask([square], (320, 320)).sum())  # a half-size photo
    400
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inference.train.shared import shared_dir

OTHER_SKIN = Path(__file__).with_name("other_skin.json")
REF_SIDE = 640  # the photos' side, in which the polygons are given
FILL = (255, 60, 200)  # RGB of the polygons on the review sheets


def read_entries(path: Path = OTHER_SKIN) -> dict[str, dict]:
    """The file's photos as written: filename -> {"view", "split", "polygons", "note"?}."""
    return json.loads(Path(path).read_text())["photos"]


def read_other_skin(path: Path = OTHER_SKIN) -> dict[str, list[np.ndarray]]:
    """filename -> its polygons (int32 arrays of shape (n, 2), x y in 640 x 640 pixels); an
    empty list for a photo checked and found without other skin."""
    return {name: [np.asarray(p, np.int32).reshape(-1, 2) for p in e["polygons"]]
            for name, e in read_entries(path).items()}


def other_skin_mask(polygons: Sequence[np.ndarray], shape: Sequence[int]) -> np.ndarray:
    """The union of ``polygons`` (640 x 640 pixel coordinates) as a boolean mask of ``shape``
    (height, width): the points are scaled when the photo is not 640 x 640."""
    h, w = int(shape[0]), int(shape[1])
    canvas = np.zeros((h, w), np.uint8)
    sx, sy = w / REF_SIDE, h / REF_SIDE
    pts = []
    for p in polygons:
        p = np.asarray(p, np.float64).reshape(-1, 2)
        if len(p) < 3:
            continue
        q = p.copy()
        if (sx, sy) != (1.0, 1.0):  # pixel centres map onto pixel centres
            q[:, 0] = (q[:, 0] + 0.5) * sx - 0.5
            q[:, 1] = (q[:, 1] + 0.5) * sy - 0.5
        pts.append(np.round(q).astype(np.int32))
    if pts:
        cv2.fillPoly(canvas, pts, 1)
    return canvas.astype(bool)


def render_tile(rgb: np.ndarray, polygons: Sequence[np.ndarray], title: str = "", side: int = 320) -> np.ndarray:
    """One review tile (RGB, ``side`` px square plus a caption strip): the photo with the
    polygons' union tinted and their outlines drawn."""
    h, w = rgb.shape[:2]
    mask = other_skin_mask(polygons, (h, w))
    img = rgb.copy()
    img[mask] = (img[mask] * 0.6 + np.array(FILL) * 0.4).astype(np.uint8)
    s = side / max(h, w)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    k = s * w / REF_SIDE, s * h / REF_SIDE
    for p in polygons:
        p = np.asarray(p, np.float64).reshape(-1, 2)
        cv2.polylines(img, [np.round(p * k).astype(np.int32)], True, FILL, 1, cv2.LINE_AA)
    tile = np.full((side, side, 3), 32, np.uint8)
    tile[:img.shape[0], :img.shape[1]] = img
    cap = np.full((28, side, 3), 32, np.uint8)
    lines = [title[:50], title[50:100]] if len(title) > 50 else [title]
    for i, t in enumerate(lines):
        cv2.putText(cap, t, (3, 11 + 13 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.37, (255, 255, 255), 1)
    return np.concatenate([tile, cap], 0)


def write_sheet(path: Path, names: Sequence[str] | None = None, cols: int = 8, side: int = 240,
                entries_path: Path = OTHER_SKIN, root: Path | None = None) -> Path:
    """A review contact sheet (PNG at ``path``) of the listed photos (or just ``names``) with
    their polygons drawn, sorted by split, view and name; returns ``path``."""
    root = Path(root) if root else shared_dir() / "datasets/scalp_uze"
    entries = read_entries(entries_path)
    todo = sorted((e["split"], e["view"], n) for n, e in entries.items() if names is None or n in set(names))
    tiles = []
    for split, view, name in todo:
        bgr = cv2.imread(str(root / split / name))
        if bgr is None:
            raise FileNotFoundError(root / split / name)
        polys = [np.asarray(p, np.int32) for p in entries[name]["polygons"]]
        title = f"{split[0]} {view} {name.split('_jpg')[0]} {name.split('.rf.')[-1][:6]} n={len(polys)}"
        tiles.append(render_tile(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), polys, title, side))
    if not tiles:
        raise ValueError("no photos to draw")
    th, tw = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * (th + 4), cols * (tw + 4), 3), 64, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * (th + 4):r * (th + 4) + th, c * (tw + 4):c * (tw + 4) + tw] = t
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/other_skin"))
    ap.add_argument("--per-sheet", type=int, default=48)
    ap.add_argument("names", nargs="*", help="only these file names")
    a = ap.parse_args(argv)
    entries = read_entries()
    names = sorted((e["split"], e["view"], n) for n, e in entries.items() if not a.names or n in set(a.names))
    names = [n for _, _, n in names]
    for k in range(0, len(names), a.per_sheet):
        print(write_sheet(a.out / f"sheet_{k // a.per_sheet:03d}.png", names[k:k + a.per_sheet]))


if __name__ == "__main__":
    main()
