"""The one scripted stand-in for the inference service's models (NOT the real models).

``StandInScalp`` is a deterministic scalp chain: the middle of every photo is the
"head", its upper half labelled scalp skin and its lower half hair (the answer's classes,
``SCALP_CLASSES``). Its grade is the
one it is given, or else follows the photo's mean brightness so that different photos
get different grades. ``stand_in_models`` registers it as the service's only domain;
``create_app(settings, stand_in_models)`` (or with a lambda for a configured chain) then
serves the real HTTP contract fast and without weights.
"""
from __future__ import annotations

import time

import numpy as np

from inference.pipeline.scalp.anatomy import HAIR, SCALP, SCALP_CLASSES
from inference.pipeline.scalp.chain import ScalpAnalysis
from inference.pipeline.scalp.measure import measure_scalp
from inference.service.domains import Models, scalp_output
from inference.types import GRADES, Box, Detection, GradeResult, Segmentation

HASHES = {"scalp_yolo.pt": "0" * 8, "scalp_unet.pt": "1" * 8, "scalp_grader.json": "2" * 8}


class StandInScalp:
    def __init__(self, grade: str | None = None, delay: float = 0.0, empty: bool = False):
        """``grade``: always this grade (else by brightness); ``delay``: seconds per batch;
        ``empty``: no head found. ``calls`` records each batch's size."""
        self.grade, self.delay, self.empty = grade, delay, empty
        self.calls: list[int] = []

    def analyze(self, images: list[np.ndarray], backgrounds: list | None = None) -> list[ScalpAnalysis]:
        self.calls.append(len(images))
        time.sleep(self.delay)
        out = []
        for im in images:
            h, w = im.shape[:2]
            labels = np.zeros((h, w), np.uint8)
            grade = self.grade or GRADES[int(im.mean()) % 3]
            if self.empty:
                det = Detection(Box(0, 0, w, h), -1, "image", 0.0)
                dets: tuple[Detection, ...] = ()
            else:
                labels[h // 4 : h // 2, w // 4 : 3 * w // 4] = SCALP
                labels[h // 2 : 3 * h // 4, w // 4 : 3 * w // 4] = HAIR
                det = Detection(Box(w / 4, h / 4, 3 * w / 4, 3 * h / 4), 1, grade, 0.9, (0.05, 0.9, 0.05))
                dets = (det,)
            x1, y1, x2, y2 = det.box.as_int()
            bc = np.bincount(labels[y1:y2, x1:x2].ravel(), minlength=len(SCALP_CLASSES))
            seg = Segmentation(labels, SCALP_CLASSES, ({c: int(bc[i]) for i, c in enumerate(SCALP_CLASSES)},))
            probabilities = {g: (0.8 if g == grade else 0.1) for g in GRADES}
            out.append(ScalpAnalysis(dets, seg, measure_scalp(seg, [det], h * w),
                                     GradeResult(grade, 0.8, grade, probabilities)))
        return out


def stand_in_models(settings: object = None, chain: StandInScalp | None = None) -> Models:
    """A ``Models`` with the stand-in as its scalp domain (a ``models_factory`` for ``create_app``)."""
    return Models({"scalp": chain or StandInScalp()}, {"scalp": scalp_output}, {"scalp": dict(HASHES)}, "cpu")
