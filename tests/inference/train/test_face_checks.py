"""The hand checks of YuNet's faces on the scalp photos (``inference/train/scalp/face_checks.json``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from inference.train.scalp.face_checks import (
    CHECKS,
    REF_SIDE,
    STATUSES,
    hand_cut,
    read_face_checks,
    render_sheet,
    use_detector,
)
from inference.types import Box, Face


@pytest.fixture(scope="module")
def checks() -> dict[str, dict]:
    return read_face_checks()


def test_file_parses_and_is_sorted(checks):
    doc = json.loads(CHECKS.read_text())
    assert doc["about"] and "0.6" in doc["about"]
    assert list(checks) == sorted(checks) and len(checks) > 50


def test_filenames_exist_in_the_shared_data(checks, shared):
    root = shared / "datasets/scalp_uze"
    names = {p.name for split in ("train", "valid") for p in (root / split).glob("*.jpg")}
    assert set(checks) <= names


def test_entries_are_well_formed(checks):
    for name, e in checks.items():
        assert set(e) == {"status", "score", "line", "face_side", "note"}, name
        assert e["status"] in STATUSES, name
        if e["status"] == "added":
            assert e["score"] is None and e["line"], name
        else:
            assert 0.6 <= e["score"] <= 1, name
        if e["status"] == "ok":
            assert e["line"] is None and e["face_side"] is None, name
        for pts in (e["line"] or []), ([e["face_side"]] if e["face_side"] else []):
            for p in pts:
                assert len(p) == 2 and all(isinstance(v, int) and 0 <= v <= REF_SIDE for v in p), name


def test_every_hand_line_has_its_face_side_off_the_line(checks):
    for name, e in checks.items():
        if e["status"] in ("wrong", "added") and e["line"]:
            assert e["face_side"], name
            (x1, y1), (x2, y2) = e["line"]
            assert (x2 - x1) ** 2 + (y2 - y1) ** 2 >= 100**2, name  # a line, not a dot
            fx, fy = e["face_side"]
            dist = abs((x2 - x1) * (fy - y1) - (y2 - y1) * (fx - x1)) / np.hypot(x2 - x1, y2 - y1)
            assert dist > 10, name
            cut = hand_cut(e, (REF_SIDE, REF_SIDE))
            assert cut[fy - 1 if fy == REF_SIDE else fy, fx - 1 if fx == REF_SIDE else fx], name
            assert 0 < cut.mean() < 1, name


def test_hand_cut_on_a_synthetic_line():
    # a horizontal brow line at y = 320, the face below: the lower half
    e = {"status": "added", "line": [[0, 320], [640, 320]], "face_side": [300, 500]}
    cut = hand_cut(e, (640, 640))
    assert cut.shape == (640, 640) and cut.dtype == bool
    assert not cut[:321].any() and cut[321:].all()
    # the face side above instead: the upper half
    up = hand_cut({**e, "face_side": [300, 100]}, (640, 640))
    assert up[:320].all() and not up[320:].any()
    # a diagonal line from the top left to the bottom right, the face at the bottom left
    d = hand_cut({"line": [[0, 0], [640, 640]], "face_side": [100, 500]}, (640, 640))
    assert d[500, 100] and not d[100, 500] and abs(d.mean() - 0.5) < 0.01
    # scaled to another shape: the same share, the same side
    small = hand_cut(e, (320, 160))
    assert small.shape == (320, 160) and not small[:160].any() and small[161:].all()
    # no line: nothing cut
    assert not hand_cut({"status": "wrong", "line": None, "face_side": None}, (10, 10)).any()


def test_use_detector_only_for_ok_or_unchecked():
    assert use_detector(None) and use_detector({"status": "ok"})
    assert not use_detector({"status": "wrong"}) and not use_detector({"status": "added"})


def test_render_sheet_draws_tiles():
    rgb = np.full((640, 640, 3), 128, np.uint8)
    face = Face(Box(200, 200, 400, 450), ((260, 300), (340, 300), (300, 350), (270, 400), (330, 400)), 0.9)
    e = {"status": "wrong", "line": [[0, 250], [640, 250]], "face_side": [320, 500]}
    sheet = render_sheet([(rgb, face, None, "a"), (rgb, None, e, "b"), (rgb, face, e, "c")], cols=2, side=100)
    assert sheet.shape == (2 * (100 + 30 + 4), 2 * (100 + 4), 3) and sheet.dtype == np.uint8
    assert sheet[:100, :100].std() > 0  # the tint and the landmarks show
