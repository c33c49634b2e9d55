"""Norwood zones per view on synthetic heads."""
from __future__ import annotations

import numpy as np

from inference.pipeline.scalp.anatomy import HAIR, SCALP
from inference.pipeline.scalp.zones import MIN_ZONE_PIXELS, zone_masks, zone_ratios
from inference.types import Box, Face

ALL = np.ones((200, 200), bool)


def head(bald: tuple[slice, slice]) -> np.ndarray:
    lab = np.zeros((200, 200), np.uint8)
    lab[20:180, 20:180] = HAIR
    lab[bald] = SCALP
    return lab


def profile(face_x: float) -> Face:
    """A face at the photo's left (face_x small) or right, upright."""
    return Face(Box(face_x - 20, 100, face_x + 20, 170),
                ((face_x - 5, 120), (face_x + 5, 120), (face_x, 140), (face_x - 4, 160), (face_x + 4, 160)), 0.95)


def test_front_view_frontal_is_the_lowest_part():
    receding = head((slice(120, 180), slice(20, 180)))  # bare skin low on the head: a receding hairline
    r = zone_ratios(receding, zone_masks(receding, ALL, "Front", []))
    assert r["frontal"] > 0.8 and r["mid"] < 0.2 and r["crown"] is None


def test_side_view_frontal_follows_the_face():
    temples = head((slice(20, 100), slice(140, 180)))  # bare at the right, upper
    left_face = zone_ratios(temples, zone_masks(temples, ALL, "Left", [profile(15)]))
    right_face = zone_ratios(temples, zone_masks(temples, ALL, "Left", [profile(185)]))
    assert right_face["frontal"] > 0.5 and right_face["crown"] < 0.1  # the face is on the bald side
    assert left_face["crown"] > 0.5 and left_face["frontal"] < 0.1
    named = zone_ratios(temples, zone_masks(temples, ALL, "Right", []))  # no face: a right view faces right
    assert named["frontal"] > 0.5


def test_top_down_crown_is_the_centre_and_back_crown_the_top():
    crown = head((slice(75, 125), slice(75, 125)))
    top = zone_ratios(crown, zone_masks(crown, ALL, "Top-Down", []))
    assert top["crown"] > 0.3 and top["mid"] < 0.05 and top["frontal"] is None
    vertex = head((slice(20, 60), slice(60, 140)))
    back = zone_ratios(vertex, zone_masks(vertex, ALL, "Back", []))
    assert back["crown"] > 0.3 and back["frontal"] is None and back["mid"] is None


def test_no_view_or_too_little_head_measures_no_zone():
    lab = head((slice(0, 0), slice(0, 0)))
    assert all(v is None for v in zone_ratios(lab, zone_masks(lab, ALL, None, [])).values())
    tiny = np.zeros((200, 200), np.uint8)
    tiny[:10, :10] = HAIR
    assert 100 < MIN_ZONE_PIXELS
    assert all(v is None for v in zone_ratios(tiny, zone_masks(tiny, ALL, "Front", [])).values())


def test_percentiles_from_the_histogram_match_numpy():
    """Whole-number projections take the histogram way, others numpy's; both give np.percentile."""
    from inference.pipeline.scalp.zones import percentiles

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 50, 4001):
        rows = rng.integers(-300, 600, n).astype(float)
        np.testing.assert_allclose(percentiles(rows, (2, 98)), np.percentile(rows, (2, 98)), rtol=0, atol=1e-9)
        ties = np.repeat(rows[: max(1, n // 5)], 5)
        np.testing.assert_allclose(percentiles(ties, (0, 2, 50, 98, 100)), np.percentile(ties, (0, 2, 50, 98, 100)),
                                   rtol=0, atol=1e-9)
    tilted = rng.normal(size=999) * 40
    np.testing.assert_allclose(percentiles(tilted, (2, 98)), np.percentile(tilted, (2, 98)))
