"""The face domain's plug for the service registry (``inference.service.runner.domains``).

``face_output`` turns a ``FaceAnalysis`` into the generic ``DomainOutput``: one
region per counted lesion (its box, score and the U-Net's lesion pixels inside
it), the lesion mask for the drawing, the measurements and the Korean headline.
Whether the photo shows a face at all is the router's question (its "neither"),
not the lesion evidence: clear skin has no lesion and is a valid LOW, so the
evidence handed to the quality gate never flags a photo routed here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.pipeline.face import FACE_DETECTOR, FACE_GRADER, FACE_SEGMENTER
from inference.pipeline.quality import RegionEvidence

FACE_FILES = (FACE_DETECTOR, FACE_SEGMENTER, FACE_GRADER)


def face_headline(lesion_count: int) -> str:
    return f"병변 {lesion_count}개"


def face_output(a):
    from .runner import DomainOutput

    seg = a.segmentation
    h, w = seg.labels.shape[:2]
    lesion = seg.classes.index("lesion") if "lesion" in seg.classes else len(seg.classes) - 1
    regions = []
    for d in a.detections:
        x1, y1, x2, y2 = d.box.clip(w, h).as_int()
        px = int(np.count_nonzero(seg.labels[y1:y2, x1:x2] == lesion))
        regions.append({"box": d.box.as_list(), "class": d.label, "score": round(d.score, 4), "mask_area": {"lesion": px}})
    return DomainOutput(a.detections, tuple(regions), seg, a.measurements.as_dict(), a.grade,
                        RegionEvidence(1.0, 1.0), face_headline(a.measurements.lesion_count))


def load_face(directory: Path, device: str):
    from inference.pipeline.face import FaceModels

    return FaceModels.load(directory, device=device)
