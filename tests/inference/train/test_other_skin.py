"""The hand-drawn other-skin polygons (inference/train/scalp/other_skin.json) and their reader."""
from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np

from inference.datasets import view_of
from inference.train.scalp import other_skin as O


def test_the_file_parses_and_its_entries_are_well_formed():
    raw = json.loads(O.OTHER_SKIN.read_text())
    assert raw["about"].strip() and list(raw["photos"]) == sorted(raw["photos"])  # sorted by file name
    for name, e in raw["photos"].items():
        assert e["split"] in ("train", "valid") and e["view"] == view_of(name), name
        assert set(e) <= {"view", "split", "polygons", "note"}, name
        for p in e["polygons"]:
            assert len(p) >= 3, name
            for pt in p:
                assert len(pt) == 2 and all(isinstance(v, int) and 0 <= v <= O.REF_SIDE for v in pt), (name, pt)
    polys = O.read_other_skin()
    assert set(polys) == set(raw["photos"])
    assert all(p.dtype == np.int32 and p.ndim == 2 and p.shape[1] == 2 for ps in polys.values() for p in ps)


def test_every_photo_exists_in_the_shared_data_and_is_640_square(shared):
    root = shared / "datasets/scalp_uze"
    for name, e in O.read_entries().items():
        path = root / e["split"] / name
        assert path.is_file(), path
    some = sorted(O.read_entries().items())[:5]
    for name, e in some:
        assert cv2.imread(str(root / e["split"] / name)).shape[:2] == (640, 640)


def test_the_valid_subset_covers_back_and_side_views():
    views = Counter(e["view"] for e in O.read_entries().values() if e["split"] == "valid")
    assert views["Back"] >= 10 and views["Left"] + views["Right"] >= 6
    train = Counter(e["view"] for e in O.read_entries().values() if e["split"] == "train")
    assert train["Back"] >= 30
    # a Back view nearly always shows some neck or ear: most listed ones have polygons
    backs = [e for e in O.read_entries().values() if e["view"] == "Back"]
    assert sum(bool(e["polygons"]) for e in backs) >= 0.9 * len(backs)


def test_the_mask_fills_the_polygons_and_scales_with_the_photo():
    square = np.array([[100, 200], [299, 200], [299, 399], [100, 399]])
    ear = np.array([[500, 100], [600, 150], [550, 250]])
    m = O.other_skin_mask([square, ear], (640, 640))
    assert m.dtype == bool and m.shape == (640, 640)
    assert m[300, 200] and m[200, 100] and m[399, 299] and not m[300, 99] and not m[400, 200]
    assert m[160, 550] and not m[50, 500]
    assert abs(int(m[:, :400].sum()) - 200 * 200) <= 0  # fillPoly includes the edge pixels
    half = O.other_skin_mask([square, ear], (320, 320))  # a photo at half size
    assert half.shape == (320, 320) and half[150, 100] and not half[150, 45] and not half[205, 100]
    assert abs(int(half.sum()) - int(m.sum()) / 4) < 0.03 * int(m.sum()) / 4
    wide = O.other_skin_mask([square], (640, 1280))  # x scaled, y not
    assert wide[300, 400] and not wide[300, 190] and not wide[300, 610]
    assert not O.other_skin_mask([], (10, 10)).any()  # checked, nothing there
    assert not O.other_skin_mask([np.array([[1, 1], [5, 5]])], (10, 10)).any()  # not a polygon


def test_the_masks_of_the_real_entries_are_plausible():
    for name, polys in O.read_other_skin().items():
        m = O.other_skin_mask(polys, (640, 640))
        share = m.mean()
        assert (share == 0) == (not polys), name
        assert share < 0.75, name  # other skin never fills a scalp photo


def test_review_sheet(shared, tmp_path):
    names = sorted(O.read_entries())[:3]
    path = O.write_sheet(tmp_path / "sheet.png", names, cols=3, side=120, root=shared / "datasets/scalp_uze")
    sheet = cv2.imread(str(path))
    assert sheet is not None and sheet.shape[1] == 3 * (120 + 4) and sheet.shape[0] == 120 + 28 + 4
    tile = O.render_tile(np.zeros((640, 640, 3), np.uint8), [np.array([[0, 0], [639, 0], [639, 639], [0, 639]])],
                         "all", side=64)
    assert tile.shape == (64 + 28, 64, 3) and tuple(tile[32, 32]) == tuple(int(0.4 * c) for c in O.FILL)
