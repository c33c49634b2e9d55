"""`python -m inference.evaluate scalp` on a folder laid out like scalp_uze, with the shipped weights."""
from __future__ import annotations

import csv
import json

import pytest

from inference.evaluate.metrics import classification_metrics
from tests.inference.evaluate.cli import run_eval


def test_classification_metrics_by_hand():
    t = ["LOW", "LOW", "MIDDLE", "HIGH", "HIGH", "HIGH"]
    p = ["LOW", "MIDDLE", "MIDDLE", "HIGH", "HIGH", "LOW"]
    m = classification_metrics(t, p)
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m["accuracy"] == round(4 / 6, 4)
    # F1: LOW 0.5, MIDDLE 2/3, HIGH 0.8
    assert m["macro_f1"] == round((0.5 + 2 / 3 + 0.8) / 3, 4)


@pytest.fixture
def small_set(tmp_path, shared):
    """Six photos of each of two splits, linked (not copied) from ../shared into a temp folder."""
    src = shared / "datasets/scalp_uze"
    rows = list(csv.DictReader(open(src / "labels.csv")))
    keep = [r for s in ("train", "valid") for r in [r for r in rows if r["split"] == s][:6]]
    for r in keep:
        d = tmp_path / r["split"]
        d.mkdir(exist_ok=True)
        (d / r["filename"]).symlink_to(src / r["split"] / r["filename"])
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["split", "filename", "norwood_level", "grade3"])
        w.writeheader()
        w.writerows({k: r[k] for k in w.fieldnames} for r in keep)
    return tmp_path


def test_evaluate_prints_one_json_line_over_every_split(small_set, weights, project_root):
    lines = run_eval("scalp", project_root, "--data", str(small_set))
    last = json.loads(lines[-1])
    assert set(last) == {"n", "accuracy", "macro_f1", "routing_accuracy"}
    assert last["n"] == 12
    assert 0 <= last["accuracy"] <= 1 and 0 <= last["macro_f1"] <= 1
    assert last["routing_accuracy"] is None or 0 <= last["routing_accuracy"] <= 1
    assert any(line.startswith("[train]") for line in lines) and any(line.startswith("[valid]") for line in lines)
    coverage = [line for line in lines if "accuracy of the most confident" in line]
    assert len(coverage) == 2 and all("50% graded" in c and "90% graded" in c and "ECE" in c for c in coverage)


def test_evaluate_one_split(small_set, weights, project_root):
    last = json.loads(run_eval("scalp", project_root, "--data", str(small_set), "--split", "valid")[-1])
    assert last["n"] == 6


def test_mask_iou_is_per_answer_class_inside_the_head_box(tmp_path):
    """The stand-in paints scalp over the box's upper half and hair over its lower half; the
    reference agrees on hair, puts other skin over the left half of the scalp, and leaves a
    strip unlabelled (255) that is not scored."""
    import cv2
    import numpy as np

    from inference.evaluate.scalp import evaluate_scalp
    from inference.pipeline.scalp.anatomy import HAIR, OTHER_SKIN, SCALP
    from tests.fakes.inference import StandInScalp

    h, w = 80, 120
    photo, ref = tmp_path / "a.jpg", tmp_path / "a.png"
    cv2.imwrite(str(photo), np.full((h, w, 3), 128, np.uint8))
    lab = np.zeros((h, w), np.uint8)
    lab[20:40, 30:90] = SCALP
    lab[20:40, 30:60] = OTHER_SKIN
    lab[40:60, 30:90] = HAIR
    lab[55:60, 30:90] = 255
    cv2.imwrite(str(ref), lab)
    rows = [{"path": str(photo), "filename": "a.jpg", "grade3": "LOW", "view": "Front"}]
    iou = evaluate_scalp(StandInScalp("LOW"), rows, reference_masks={"a.jpg": ref})["mask_iou_check_subset"]
    assert iou == {"n": 1, "hair": 1.0, "scalp": 0.5, "other_skin": 0.0}


def test_face_leak_is_the_scalp_share_of_the_face_box_below_the_eyes():
    import numpy as np

    from inference.evaluate.scalp import face_leak, leak_summary
    from inference.pipeline.scalp.anatomy import SCALP
    from inference.types import Box, Face

    labels = np.zeros((100, 100), np.uint8)
    labels[:50] = SCALP  # above the eyes: not counted
    labels[50:60, 20:40] = SCALP  # 200 of the 40 x 50 pixels below the eyes
    face = Face(Box(20, 30, 60, 100), ((30, 50), (50, 50), (40, 70), (32, 85), (48, 85)), 0.95)
    assert face_leak(labels, [face]) == [0.1]
    assert leak_summary([0.1, 0.0]) == {"faces": 2, "mean": 0.05, "over_0.03": 1}
    assert leak_summary([])["mean"] is None
