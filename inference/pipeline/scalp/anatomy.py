"""Anatomy: which labelled pixels are the scalp, which are other skin (face, ears, neck), and
which are not the person at all.

The answer's class mask uses ``SCALP_CLASSES`` in this order (index = class). The segmenter
names its own classes; ``anatomy_labels`` maps them by name (a segmenter that only knows
"skin" has it read as scalp skin) and then applies what is known for sure:

* below the eyebrow line of a face the detector found, nothing is scalp: skin there is
  other skin, and the whole half-plane is outside the scalp zone (a beard is hair, but not
  the scalp's). The line runs across the photo perpendicular to the face's eye-to-mouth
  direction, ``BROW_OFFSET`` eye-to-mouth distances above the eyes, so it holds for faces in
  any orientation and for profiles (the ear and the neck lie below it);
* a face whose line would take more than ``MAX_CUT_SHARE`` of the head is not trusted
  (a face taken where there is none has landmarks pointing anywhere; the detector's own
  threshold keeps most such faces out: ``inference/models/face_detector.py``);
* known background (transparent or flat pixels, ``pipeline/common/background.py``) is
  background.

Example:
    >>> import numpy as np
    >>> lab = np.array([[0, 1, 2]], np.uint8)          # a segmenter's background, skin, hair
    >>> anatomy_labels(lab, ("background", "skin", "hair"), [])[0].tolist()
    [[0, 2, 1]]
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from inference.types import Face

SCALP_CLASSES = ("background", "hair", "scalp", "other_skin")
BACKGROUND, HAIR, SCALP, OTHER_SKIN = range(len(SCALP_CLASSES))
# the segmenter's class names -> the answer's classes ("skin" of a hair / skin segmenter is scalp skin)
CLASS_OF = {"background": BACKGROUND, "hair": HAIR, "scalp": SCALP, "skin": SCALP, "other_skin": OTHER_SKIN}

BROW_OFFSET = 0.35  # eyebrows lie about this far above the eyes, in eye-to-mouth distances
MAX_CUT_SHARE = 0.95  # a face line that would remove more of the head than this is ignored


def below_brows(shape: tuple[int, ...], face: Face) -> np.ndarray:
    """Boolean mask of the pixels below the face's eyebrow line, in the face's own orientation."""
    eyes, mouth = np.asarray(face.eyes, np.float32), np.asarray(face.mouth, np.float32)
    up = eyes - mouth
    d = float(np.linalg.norm(up))
    if d < 1:
        return np.zeros(shape[:2], bool)
    up /= d
    h, w = shape[:2]
    xs = (np.arange(w, dtype=np.float32) - eyes[0]) * up[0]
    ys = (np.arange(h, dtype=np.float32) - eyes[1]) * up[1]
    return (ys[:, None] + xs[None, :]) < BROW_OFFSET * d


def face_cut(shape: tuple[int, ...], faces: Sequence[Face], head: np.ndarray | None = None) -> np.ndarray | None:
    """The union of the trusted faces' below-brow half-planes, or None without one. ``head``:
    the pixels that may be head (hair or skin), to judge the cut's share of it."""
    cut = None
    head_px = max(int(head.sum()), 1) if head is not None else 0
    for f in faces:
        c = below_brows(shape, f)
        if head is not None and int((c & head).sum()) > MAX_CUT_SHARE * head_px:
            continue
        cut = c if cut is None else (cut | c)
    return cut


def anatomy_labels(labels: np.ndarray, classes: Sequence[str], faces: Sequence[Face],
                   background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The segmenter's labels (indices into ``classes``) as ``SCALP_CLASSES`` indices, with the
    faces' and the known background's rules applied (module docstring); and the face cut (the
    trusted faces' below-brow half-planes, outside the scalp zone), None without a face."""
    table = np.zeros(256, np.uint8)
    for i, name in enumerate(classes):
        table[i] = CLASS_OF.get(name, BACKGROUND)
    out = table[labels]
    cut = face_cut(out.shape, faces, out != BACKGROUND) if faces else None
    if cut is not None:
        out[cut & (out == SCALP)] = OTHER_SKIN
    if background is not None:
        out[background] = BACKGROUND
    return out, cut


NECK_MARGIN = 0.02  # of the photo's height: skin this far below the hair's lower edge is neck


def neck_below_hair(labels: np.ndarray) -> np.ndarray:
    """Seen from behind, bare skin below the hair's lower edge is the neck, never scalp (a bald
    crown lies above the fringe, the neck below it). Per column, the lowest pixel of the largest
    hair region; the scalp pixels more than ``NECK_MARGIN`` below it. The photo's up is the
    head's up, as the zones take it for a Back view."""
    hair = (labels == HAIR).astype(np.uint8)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(hair, connectivity=8)
    if n < 2:
        return np.zeros(labels.shape, bool)
    main = comp == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    h = labels.shape[0]
    lowest = np.where(main.any(0), h - 1 - np.argmax(main[::-1], 0), h)  # no hair in a column: nothing below
    rows = np.arange(h)[:, None]
    return (labels == SCALP) & (rows > lowest[None, :] + NECK_MARGIN * h)
