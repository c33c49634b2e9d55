"""The checks under every grade: the scalp's and the face's own evidence, and how they meet the
router's "neither" (``quality.subject_reason``)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.pipeline.common.quality import REASONS, subject_reason
from inference.pipeline.face.evidence import FACE_SCORE_MIN, SKIN_SHARE_MIN, shows_face, skin_share
from inference.pipeline.scalp.evidence import HEAD_SCORE_MIN, SCALP_SHARE_MIN, shows_scalp


def test_a_scalp_needs_a_head_box_filled_with_hair_and_scalp():
    head = {"hair": 300, "scalp": 200, "other_skin": 300, "background": 200}
    assert shows_scalp(0.5, head, 1000)
    assert not shows_scalp(HEAD_SCORE_MIN / 2, head, 1000)  # no trusted box
    assert not shows_scalp(0.5, head, 0)
    edge = int(SCALP_SHARE_MIN * 1000)
    assert shows_scalp(0.5, {"hair": edge, "scalp": 0}, 1000)
    assert not shows_scalp(0.5, {"hair": edge - 1, "scalp": 0, "other_skin": 900}, 1000)
    # a bald crown is scalp without hair: it counts
    assert shows_scalp(0.5, {"hair": 0, "scalp": 600}, 1000)


def _flat(rgb: tuple[int, int, int], side: int = 300) -> np.ndarray:
    return np.full((side, side, 3), rgb, np.uint8)


def test_skin_share_is_the_share_of_skin_coloured_pixels():
    skin, sky = (224, 172, 140), (70, 110, 200)  # a light skin tone, a blue sky
    assert skin_share(_flat(skin)) == 1.0 and skin_share(_flat(sky)) == 0.0
    half = _flat(sky, 400)
    half[:, :200] = skin
    assert skin_share(half) == pytest.approx(0.5, abs=0.01)
    ycc = cv2.cvtColor(_flat(skin, 1)[None, 0], cv2.COLOR_RGB2YCrCb)[0, 0]
    assert 133 <= ycc[1] <= 173 and 77 <= ycc[2] <= 127


def test_a_face_is_a_found_face_or_a_skin_close_up_the_router_takes_for_a_face():
    assert shows_face(FACE_SCORE_MIN, 0.0, 0.0)  # YuNet alone is enough
    assert not shows_face(FACE_SCORE_MIN - 0.01, SKIN_SHARE_MIN - 0.01, 1.0)
    assert shows_face(0.0, SKIN_SHARE_MIN, 0.9)  # a cheek too close for the face finder
    assert not shows_face(0.0, 0.9, 0.2)  # skin the router does not take for a face (a scalp)
    assert shows_face(0.0, 0.9, None)  # no router: the skin colour alone


@pytest.mark.parametrize("domain,reason", [("scalp", "no_scalp_found"), ("face", "no_face_found")])
def test_subject_reason_names_the_missing_subject_only_when_it_was_asked_for(domain, reason):
    assert reason in REASONS
    assert subject_reason(domain, True, found=True) is None
    assert subject_reason(domain, True, found=False) == reason
    assert subject_reason(domain, False, found=False) == "not_scalp_or_face"
    # the router's neither on a photo sent for a domain: refused unless the evidence is sure
    assert subject_reason(domain, True, found=True, router_neither=True) == reason
    assert subject_reason(domain, True, found=True, sure=True, router_neither=True) is None
    assert subject_reason(domain, True, found=False, sure=True) == reason
