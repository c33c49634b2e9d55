"""Does the photo show a face? The check under every acne grade.

An acne grade needs a face: YuNet finds one (in any quarter turn, at ``FACE_SCORE_MIN``), or,
for a close-up too tight for a face finder (a cheek, a chin), the router takes the photo for
a face and most of its pixels have a skin colour. The acne detector alone finds "lesions" on
anything with spots (a cat, a stormy sky), so it cannot vouch for a face itself.

Thresholds, from ``weights/`` on photos the acne grade was not fitted on (2026-12-07; the
model card, "Evidence under every grade"): YuNet finds a face at 0.6 or more in 191 of 200
ACNE04 train photos and in every LFW and CelebA portrait tried (300); 8 of the other 9 have a
skin-colour share of 0.54 or more (199 of 200 pass). A face found at ``FACE_SURE`` (YuNet's product threshold,
``inference.models.face_detector.SCORE``) stands even where the router saw neither (a selfie).

Example:
    >>> shows_face(0.0, 0.7, 0.98)
    True
    >>> shows_face(0.0, 0.7, 0.10)
    False
"""
from __future__ import annotations

import cv2
import numpy as np

from inference.models.face_detector import SCORE

FACE_SCORE_MIN = 0.6  # YuNet's score for a face that counts as evidence
FACE_SURE = SCORE  # a face the product trusts overrules the router's "neither"
SKIN_SHARE_MIN = 0.4  # without a face: the share of skin-coloured pixels of a close-up
ROUTER_FACE_MIN = 0.5  # without a face: the router's probability of a face
# skin colour in YCrCb: Chai and Ngan, "Face segmentation using skin-color map in videophone
# applications", IEEE TCSVT 9(4), 1999: Cr 133-173, Cb 77-127
CR_RANGE = (133, 173)
CB_RANGE = (77, 127)
SKIN_SIDE = 256  # px: the long side the share is measured at


def skin_share(rgb: np.ndarray) -> float:
    """The share of the photo's pixels with a skin colour (``CR_RANGE``, ``CB_RANGE``)."""
    h, w = rgb.shape[:2]
    s = min(1.0, SKIN_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ycc = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    skin = (cr >= CR_RANGE[0]) & (cr <= CR_RANGE[1]) & (cb >= CB_RANGE[0]) & (cb <= CB_RANGE[1])
    return float(skin.mean())


def shows_face(face_score: float, skin: float, router_face: float | None) -> bool:
    """A face YuNet finds, or a skin close-up the router takes for a face (``router_face``:
    its probability; None without a router: the skin colour alone)."""
    if face_score >= FACE_SCORE_MIN:
        return True
    return skin >= SKIN_SHARE_MIN and (router_face is None or router_face >= ROUTER_FACE_MIN)
