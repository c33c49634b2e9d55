"""The face chain's pure steps: box merging, the count with the U-Net fusion, the grader file (no weights)."""
from __future__ import annotations

import numpy as np
import pytest

from inference.models.yolo import LetterboxMeta, cluster_boxes, nms, peak_score, postprocess
from inference.pipeline.face.count import FusionParams, fuse
from inference.pipeline.face.detect import NMS_IOU, BoxMerge
from inference.pipeline.face.grade import CountGrader
from inference.types import Box, Detection


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


def test_postprocess_merges_by_nms_or_by_clusters():
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
    g = CountGrader(conf=0.7, merge=BoxMerge("cluster", 0.55, 0.005))
    back = CountGrader.from_json(g.to_json())
    assert back.merge == BoxMerge("cluster", 0.55, 0.005) and back.conf == 0.7
    old = g.to_json()
    del old["merge"]
    assert CountGrader.from_json(old).merge == BoxMerge("nms", NMS_IOU, 0.05)


def test_box_clustering_fuses_overlapping_boxes_and_scores_their_support():
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
