"""The model card's face section: the template rendered with a run's choices and figures."""
from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest

from inference.pipeline.face.count import FusionParams
from inference.pipeline.face.detect import BoxMerge
from inference.pipeline.face.grade import CountGrader
from inference.train.face.card import CARD_BEGIN, CARD_END, card_fields, render_section, write_model_card

METRICS = {"n": 283, "map50": 0.3205, "map50_95": 0.0703, "precision": 0.3754, "recall": 0.4558,
           "fusion_precision": 0.3754, "fusion_recall": 0.4558, "grade_accuracy": 0.8375, "grade_accuracy4": 0.7986,
           "routing_accuracy": None}


CLUSTER = BoxMerge("cluster", 0.5, 0.005)


def fields(merge: BoxMerge = CLUSTER, fusion: bool = False) -> dict:
    grader = CountGrader((5.0, 19.0, 41.5), conf=0.1, fusion=FusionParams(enabled=fusion), merge=merge)
    grader.uncertain_below = 0.59
    return card_fields(SimpleNamespace(imgsz=640), grader, METRICS, {"scalp_accuracy": 1.0, "neither_accuracy": 0.9953})


def test_the_section_sits_between_the_markers_with_the_runs_figures():
    section = render_section(fields())
    assert section.startswith(CARD_BEGIN + "\n## Face (acne) models") and section.endswith(".\n" + CARD_END)
    assert section.count(CARD_BEGIN) == 1 and section.count(CARD_END) == 1
    assert "{{" not in section and "{%" not in section
    assert "at 640 px. Overlapping boxes: weighted box clustering (IoU 0.5, boxes from confidence 0.005;" in section
    assert "did not train on (5, 19, 41.5)" in section and "UNCERTAIN under confidence 0.59" in section
    assert "Fusion of the U-Net into the count: not used (it did not raise F1 on the calibration fold)." in section
    assert "(ACNE04 valid, 283 photos): mAP50 0.3205, mAP50-95 0.0703" in section
    assert "(confidence 0.1) detector alone P 0.3754 R 0.4558" in section
    assert "routing to the face pipeline n/a;" in section  # a figure the run did not have
    assert "scalp_uze valid routed to scalp 1.0;" in section and 'recognised 0.9953.' in section
    assert "academic use only" in section


def test_nms_and_an_enabled_fusion_read_as_such():
    section = render_section(fields(BoxMerge(), fusion=True))
    assert "Overlapping boxes: non-maximum suppression (IoU 0.5) (chosen by mAP50" in section
    assert "Fusion of the U-Net into the count: used." in section


def test_a_missing_field_is_an_error_not_a_blank():
    f = fields()
    del f["map50"]
    with pytest.raises(jinja2.UndefinedError):
        render_section(f)


def test_only_the_face_section_of_the_card_is_replaced(tmp_path):
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"# Model card\n\nhand-written text\n\n{CARD_BEGIN}\nold figures\n{CARD_END}\n\n## After\nmore\n")
    write_model_card(tmp_path, fields())
    text = card.read_text()
    assert text.startswith("# Model card\n\nhand-written text\n\n" + CARD_BEGIN + "\n## Face")
    assert text.endswith(CARD_END + "\n\n## After\nmore\n") and "old figures" not in text
    assert text.count(CARD_BEGIN) == 1
    # a card without the section gets it appended
    other = tmp_path / "new"
    other.mkdir()
    write_model_card(other, fields())
    text = (other / "MODEL_CARD.md").read_text()
    assert text.startswith("# Model card\n\n" + CARD_BEGIN) and text.endswith(CARD_END + "\n")
