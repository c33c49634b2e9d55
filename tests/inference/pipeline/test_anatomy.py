"""The anatomy step: the segmenter's classes by name, the face rule in any orientation, the
known background, the neck below the hair seen from behind."""
from __future__ import annotations

import numpy as np

from inference.pipeline.scalp.anatomy import (
    BACKGROUND,
    HAIR,
    OTHER_SKIN,
    SCALP,
    anatomy_labels,
    below_brows,
    neck_below_hair,
)
from inference.types import Box, Face


def face(eyes_y: float, mouth_y: float, x: float = 50.0, score: float = 0.95) -> Face:
    marks = ((x - 8, eyes_y), (x + 8, eyes_y), (x, (eyes_y + mouth_y) / 2), (x - 6, mouth_y), (x + 6, mouth_y))
    return Face(Box(x - 20, eyes_y - 20, x + 20, mouth_y + 10), marks, score)


def test_below_the_brows_follows_the_face_orientation():
    upright = below_brows((100, 100), face(40, 60))
    assert upright[90, 50] and not upright[10, 50]  # the chin side, the skull side
    upside_down = below_brows((100, 100), face(60, 40))  # eyes below the mouth: an upside-down photo
    assert upside_down[10, 50] and not upside_down[90, 50]


def test_skin_below_a_face_is_other_skin_and_background_stays_background():
    seg = np.full((100, 100), 1, np.uint8)  # a segmenter's "skin" everywhere
    seg[:20] = 2  # its hair on top
    seg[:, :5] = 0
    bg = np.zeros((100, 100), bool)
    bg[95:] = True
    labels, cut = anatomy_labels(seg, ("background", "skin", "hair"), [face(40, 60)], bg)
    assert labels[10, 50] == HAIR and labels[30, 50] == SCALP  # above the brows
    assert labels[70, 50] == OTHER_SKIN and labels[50, 2] == BACKGROUND and labels[97, 50] == BACKGROUND
    assert cut is not None and cut[70, 50] and not cut[30, 50]


def test_a_four_class_segmenter_is_taken_as_it_is():
    seg = np.array([[0, 1, 2, 3]], np.uint8)
    labels, cut = anatomy_labels(seg, ("background", "hair", "scalp", "other_skin"), [])
    assert labels.tolist() == [[BACKGROUND, HAIR, SCALP, OTHER_SKIN]] and cut is None


def test_a_face_that_would_take_the_whole_head_is_not_trusted():
    seg = np.full((100, 100), 1, np.uint8)
    labels, cut = anatomy_labels(seg, ("background", "skin"), [face(2, 20)])  # the line at the very top
    assert cut is None and (labels == SCALP).all()


def test_skin_below_the_hair_is_neck_and_a_bald_crown_above_it_is_not():
    labels = np.full((100, 60), BACKGROUND, np.uint8)
    labels[10:30, 10:50] = SCALP  # a bald crown
    labels[30:60, 10:50] = HAIR  # the fringe round the back of the head
    labels[60:95, 20:40] = SCALP  # what the segmenter takes for scalp below it
    labels[40:50, 52:58] = SCALP  # a column without hair: nothing to be below
    neck = neck_below_hair(labels)
    assert neck[63:95, 20:40].all()
    assert not neck[60:62, 20:40].any()  # within the margin of the hair's edge
    assert not neck[10:30].any() and not neck[:, 52:].any()
    assert not neck[labels != SCALP].any()


def test_a_stray_tuft_does_not_move_the_hair_edge():
    labels = np.full((100, 60), SCALP, np.uint8)
    labels[20:40, :] = HAIR
    labels[90:93, 5:8] = HAIR  # a few hair pixels low in the photo, not the head's hair
    neck = neck_below_hair(labels)
    assert neck[50:, 5:8][labels[50:, 5:8] == SCALP].all()
    assert not neck[:20].any()


def test_without_hair_there_is_no_neck():
    labels = np.full((40, 40), SCALP, np.uint8)
    assert not neck_below_hair(labels).any()
