"""Label making and the small pure pieces of the skin chain (no trained weights needed)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from inference.evaluate_skin import average_precision, match, precision_recall
from inference.pipeline.face import CountGrader, FusionParams, fuse
from inference.pipeline.types import Box, Detection
from inference.train import skin_labels as L
from inference.train.segdata import IGNORE


def test_read_boxes_and_one_class_labels(tmp_path):
    lab = tmp_path / "a.txt"
    lab.write_text("2 0.5 0.5 0.1 0.2\n1 0.25 0.75 0.05 0.05\n\n")
    b = L.read_boxes(lab, 640, 640)
    np.testing.assert_allclose(b[0], [288, 256, 352, 384])
    np.testing.assert_allclose(b[1], [144, 464, 176, 496])
    assert L.one_class_label(lab) == "0 0.5 0.5 0.1 0.2\n0 0.25 0.75 0.05 0.05\n"
    assert L.read_boxes(tmp_path / "missing.txt", 640, 640).shape == (0, 4)


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
    rows = L.read_acne_index(shared / "datasets/acne04", "train")
    a = L.calibration_split(rows, 0.2, 0)
    assert a == L.calibration_split(rows, 0.2, 0)
    for lv in L.LEVELS:
        n = sum(r.level == lv for r in rows)
        k = sum(r.level == lv and r.filename in a for r in rows)
        assert abs(k - 0.2 * n) <= 1


def test_yolo_set_from_real_labels(tmp_path, shared):
    rows = [r for r in L.read_acne_index(shared / "datasets/acne04", "train") if r.n_boxes > 0][:6]
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
        assert len(lines) == r.n_boxes and all(l.startswith("0 ") for l in lines)


def test_tile_sample_loads_aligned_crops(shared):
    r = next(r for r in L.read_acne_index(shared / "datasets/acne04", "train") if r.n_boxes >= 5)
    tiles = L.tile_samples([r], 320)
    assert len(tiles) == 9
    rgb, lab = tiles[4].load()
    assert rgb.shape == (320, 320, 3) and lab.shape == (320, 320)
    assert set(np.unique(lab)) <= {L.BACKGROUND, L.LESION, IGNORE}
    full = sum(int((t.load()[1] == L.LESION).sum()) for t in tiles)
    assert full > 0


def test_label_stats_on_real_rows(shared):
    rows = L.read_acne_index(shared / "datasets/acne04")
    rows = [r for r in rows if r.split == "valid"][:30]
    s = L.label_stats(rows)["valid"]
    assert s["photos"] == 30 and s["boxes"] == sum(r.n_boxes for r in rows)
    assert sum(s["box_side_histogram"]["counts"]) == s["boxes"]
    assert 10 < s["box_side_px_percentiles"]["p50"] < 60


def test_hayashi_levels_from_counts():
    assert [L.level_of_count(c) for c in (0, 5, 6, 20, 21, 50, 51)] == [0, 0, 1, 1, 2, 2, 3]
    assert [L.level_to_grade3(v) for v in (0, 1, 2, 3)] == ["LOW", "MIDDLE", "HIGH", "HIGH"]


def test_count_grader_thresholds_probabilities_and_uncertain():
    rng = np.random.default_rng(0)
    # a detector that finds about 60% of the lesions: thresholds move down accordingly
    true = np.concatenate([rng.integers(0, 6, 80), rng.integers(6, 21, 80), rng.integers(21, 51, 40), rng.integers(51, 70, 30)])
    levels = np.array([L.level_of_count(c) for c in true])
    counts = np.round(true * 0.6)
    g = CountGrader.fit(counts, levels, conf=0.3)
    t1, t2, t3 = g.thresholds
    assert 1 <= t1 <= 4 and 9 <= t2 <= 13 and 27 <= t3 <= 31, g.thresholds
    p = g.probabilities(np.arange(0, 80))
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    assert (np.diff(p[:, 0]) <= 1e-9).all()  # LOW becomes less likely as the count rises
    far, near = g.grade(0), g.grade(t1 + 0.5)  # on the LOW / MIDDLE boundary
    assert far.grade == "LOW" and far.confidence > 0.9
    assert near.best_guess == "MIDDLE" and near.confidence <= 0.5 + 1e-6
    g.uncertain_below = 0.55
    assert g.grade(t1 + 0.5).grade == "UNCERTAIN" and g.grade(t1 + 0.5).reasons == ("low_confidence",)
    assert g.grade(0).grade == "LOW"
    assert CountGrader.from_json(g.to_json()).thresholds == g.thresholds


def _det(x1, y1, x2, y2, s):
    return Detection(Box(x1, y1, x2, y2), 0, "acne", s, (s,))


def test_fusion_confirms_weak_boxes_and_adds_uncovered_blobs():
    prob = np.zeros((640, 640), np.float32)
    prob[100:120, 100:120] = 0.9  # under a weak box
    prob[400:420, 400:420] = 0.95  # no box at all
    prob[300:302, 300:302] = 0.99  # a speck, under the minimum area
    cands = [_det(10, 10, 40, 40, 0.8), _det(95, 95, 125, 125, 0.1), _det(500, 500, 530, 530, 0.1)]
    alone, added = fuse(cands, prob, 0.25, FusionParams())
    assert len(alone) == 1 and added == 0
    both, added = fuse(cands, prob, 0.25, FusionParams(True, 0.5, 0.5, 60))
    assert added == 2 and len(both) == 3
    new = [d for d in both if d.box.x1 > 350]
    assert len(new) == 1 and abs((new[0].box.x1 + new[0].box.x2) / 2 - 410) < 2
    assert abs(new[0].box.width - 20 / 0.5) < 3  # grown back from the mask's ellipse to a box


def test_matching_and_average_precision_by_hand():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60]], float)
    c = match(pred, np.array([0.9, 0.8, 0.7]), gt, [0.5])[:, 0]
    assert c.tolist() == [True, False, False]  # a duplicate does not match twice
    pr = precision_recall([(pred, np.array([0.9, 0.8, 0.7]), gt)])
    assert (pr["tp"], pr["fp"], pr["fn"]) == (1, 2, 1)
    assert pr["precision"] == round(1 / 3, 4) and pr["recall"] == 0.5
    perfect = average_precision([(gt, np.array([0.9, 0.8]), gt)])
    assert perfect["map50"] > 0.99 and perfect["map50_95"] > 0.99


def test_neither_set_has_every_kind():
    from inference.train.route_trainer import MAKERS, augment, neither_set

    items = neither_set(2 * len(MAKERS), seed=3, size=96)
    assert {it.source.split(":")[1] for it in items} == set(MAKERS)
    for it in items:
        assert it.label == 2 and it.rgb.dtype == np.uint8 and it.rgb.ndim == 3 and min(it.rgb.shape[:2]) >= 32
    out = augment(items[0].rgb, random.Random(0))
    assert out.dtype == np.uint8 and out.ndim == 3


def test_box_clustering_fuses_overlapping_boxes_and_scores_their_support():
    from inference.models.yolo import cluster_boxes, nms

    rng = np.random.default_rng(1)
    # one lesion seen by five anchors (jittered boxes, weak scores), one by a single stronger anchor
    lesion = np.array([100.0, 100.0, 130.0, 130.0])
    many = lesion + rng.normal(0, 1.5, (5, 4))
    lone = np.array([[300.0, 300.0, 330.0, 330.0]])
    boxes = np.concatenate([many, lone])
    scores = np.array([0.2, 0.18, 0.15, 0.15, 0.12, 0.3])
    out, sc, lead = cluster_boxes(boxes, scores, 0.55)
    assert len(out) == 2
    # the supported lesion ranks first although each of its boxes is weaker than the lone one
    np.testing.assert_allclose(sc, [1 - np.exp(-0.8), 1 - np.exp(-0.3)], rtol=1e-9)
    np.testing.assert_allclose(out[0], (scores[:5, None] * many).sum(0) / 0.8, rtol=1e-9)
    np.testing.assert_allclose(out[1], lone[0])
    assert lead.tolist() == [0, 5]
    # NMS keeps the lone box first and one of the five
    assert nms(boxes, scores, 0.55).tolist() == [5, 0]
    # disjoint boxes stay apart; nothing in, nothing out
    apart, s2, _ = cluster_boxes(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([0.5, 0.4]), 0.3)
    assert len(apart) == 2 and s2[0] > s2[1]
    assert cluster_boxes(np.zeros((0, 4)), np.zeros(0), 0.5)[0].shape == (0, 4)


def test_postprocess_merges_by_nms_or_by_clusters():
    from inference.models.yolo import LetterboxMeta, peak_score, postprocess

    # raw head output, centre-xywh in input pixels: three overlapping anchors and one apart
    raw = np.zeros((1, 5, 4), np.float32)
    raw[0, :4, 0] = [50, 50, 20, 20]
    raw[0, :4, 1] = [51, 50, 20, 20]
    raw[0, :4, 2] = [50, 51, 20, 20]
    raw[0, :4, 3] = [150, 150, 20, 20]
    raw[0, 4] = [0.3, 0.2, 0.2, 0.4]
    meta = LetterboxMeta(1.0, 0, 0, 200, 200)
    by_nms = postprocess(raw, [meta], ("acne",), conf=0.1, iou=0.5)[0]
    assert [round(d.score, 2) for d in by_nms] == [0.4, 0.3]
    by_cluster = postprocess(raw, [meta], ("acne",), conf=0.1, iou=0.5, merge="cluster")[0]
    assert len(by_cluster) == 2 and by_cluster[0].box.x1 < 100  # the three anchors together outrank the lone one
    assert by_cluster[0].score == pytest.approx(1 - np.exp(-0.7))
    # a cluster counts by its strongest box, as a box after NMS does
    assert peak_score(by_cluster[0]) == pytest.approx(0.3) and peak_score(by_nms[0]) == pytest.approx(0.4)
    lesions, _ = fuse(by_cluster, np.zeros((200, 200), np.float32), 0.35, FusionParams())
    assert len(lesions) == 1 and lesions[0].box.x1 > 100  # only the lone box reaches 0.35 at its peak
    with pytest.raises(ValueError):
        postprocess(raw, [meta], ("acne",), merge="average")


def test_grader_file_keeps_its_box_merge_and_old_files_mean_nms():
    from inference.pipeline.face import NMS_IOU, BoxMerge

    g = CountGrader(conf=0.7, merge=BoxMerge("cluster", 0.55, 0.005))
    back = CountGrader.from_json(g.to_json())
    assert back.merge == BoxMerge("cluster", 0.55, 0.005) and back.conf == 0.7
    old = g.to_json()
    del old["merge"]
    assert CountGrader.from_json(old).merge == BoxMerge("nms", NMS_IOU, 0.05)

