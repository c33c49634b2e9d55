"""Label making for the face models, and the router's code-made "neither" photos."""
from __future__ import annotations

import random

import numpy as np

from inference.datasets import level_to_grade3, read_acne_index, read_boxes
from inference.train.face import labels as L
from inference.train.segdata import IGNORE


def test_read_boxes_and_one_class_labels(tmp_path):
    lab = tmp_path / "a.txt"
    lab.write_text("2 0.5 0.5 0.1 0.2\n1 0.25 0.75 0.05 0.05\n\n")
    b = read_boxes(lab, 640, 640)
    np.testing.assert_allclose(b[0], [288, 256, 352, 384])
    np.testing.assert_allclose(b[1], [144, 464, 176, 496])
    assert L.one_class_label(lab) == "0 0.5 0.5 0.1 0.2\n0 0.25 0.75 0.05 0.05\n"
    assert read_boxes(tmp_path / "missing.txt", 640, 640).shape == (0, 4)


def test_lesion_mask_is_an_ellipse_in_each_box_and_unknown_around_it():
    m = L.lesion_mask((100, 100), np.array([[20, 20, 60, 60]], np.float32))
    assert m[40, 40] == L.LESION  # centre
    assert m[21, 21] == IGNORE  # box corner: not known to be lesion or skin
    assert m[5, 5] == L.BACKGROUND and m[80, 80] == L.BACKGROUND
    # the ellipse spans about ELLIPSE_FILL of the box's side
    row = np.flatnonzero(m[40] == L.LESION)
    assert abs((row[-1] - row[0] + 1) - 40 * L.ELLIPSE_FILL) <= 2


def test_tiles_cover_the_photo_with_overlap():
    wins = L.tile_windows(640, 640, 320, 0.25)
    cover = np.zeros((640, 640), int)
    for x1, y1, x2, y2 in wins:
        assert x2 - x1 == 320 and y2 - y1 == 320
        cover[y1:y2, x1:x2] += 1
    assert cover.min() >= 1 and len(wins) == 9
    assert L.tile_windows(200, 300, 320) == [(0, 0, 200, 300)]


def test_calibration_fold_is_stratified_and_reproducible(shared):
    rows = read_acne_index(shared / "datasets/acne04", "train")
    a = L.calibration_split(rows, 0.2, 0)
    assert a == L.calibration_split(rows, 0.2, 0)
    for lv in L.LEVELS:
        n = sum(r.level == lv for r in rows)
        k = sum(r.level == lv and r.filename in a for r in rows)
        assert abs(k - 0.2 * n) <= 1


def test_yolo_set_from_real_labels(tmp_path, shared):
    rows = [r for r in read_acne_index(shared / "datasets/acne04", "train") if r.n_boxes > 0][:6]
    calib = {rows[0].filename, rows[1].filename}
    data = L.build_yolo_set(rows, calib, tmp_path / "yolo")
    text = data.read_text()
    assert "names:" in text and "0: acne" in text
    assert len(list((tmp_path / "yolo/images/val").iterdir())) == 2
    assert len(list((tmp_path / "yolo/images/train").iterdir())) == 4
    for r in rows:
        part = "val" if r.filename in calib else "train"
        img = tmp_path / "yolo/images" / part / r.image.name
        assert img.is_symlink() and img.resolve() == r.image.resolve()
        lines = (tmp_path / "yolo/labels" / part / (r.image.stem + ".txt")).read_text().splitlines()
        assert len(lines) == r.n_boxes and all(line.startswith("0 ") for line in lines)


def test_tile_sample_loads_aligned_crops(shared):
    r = next(r for r in read_acne_index(shared / "datasets/acne04", "train") if r.n_boxes >= 5)
    tiles = L.tile_samples([r], 320)
    assert len(tiles) == 9
    rgb, lab = tiles[4].load()
    assert rgb.shape == (320, 320, 3) and lab.shape == (320, 320)
    assert set(np.unique(lab)) <= {L.BACKGROUND, L.LESION, IGNORE}
    full = sum(int((t.load()[1] == L.LESION).sum()) for t in tiles)
    assert full > 0


def test_label_stats_on_real_rows(shared):
    rows = read_acne_index(shared / "datasets/acne04")
    rows = [r for r in rows if r.split == "valid"][:30]
    s = L.label_stats(rows)["valid"]
    assert s["photos"] == 30 and s["boxes"] == sum(r.n_boxes for r in rows)
    assert sum(s["box_side_histogram"]["counts"]) == s["boxes"]
    assert 10 < s["box_side_px_percentiles"]["p50"] < 60


def test_hayashi_levels_from_counts():
    assert [L.level_of_count(c) for c in (0, 5, 6, 20, 21, 50, 51)] == [0, 0, 1, 1, 2, 2, 3]
    assert [level_to_grade3(v) for v in (0, 1, 2, 3)] == ["LOW", "MIDDLE", "HIGH", "HIGH"]


def test_neither_set_has_every_kind():
    from inference.train.router.neither import MAKERS, neither_set
    from inference.train.router.trainer import augment

    items = neither_set(2 * len(MAKERS), seed=3, size=96)
    assert {it.source.split(":")[1] for it in items} == set(MAKERS)
    for it in items:
        assert it.label == 2 and it.rgb.dtype == np.uint8 and it.rgb.ndim == 3 and min(it.rgb.shape[:2]) >= 32
    out = augment(items[0].rgb, random.Random(0))
    assert out.dtype == np.uint8 and out.ndim == 3
