"""The face (acne) chain on a batch of photos: detect lesions -> U-Net -> count -> grade.

* detect (``detect.py``): a one-class YOLO on the whole photo, letterboxed at the size it
  was trained at (ACNE04 photos were downscaled to 640 px before labelling: a larger
  input or tiles enlarge lesions beyond what it learnt); its overlapping boxes merged as
  the grader says (``BoxMerge``);
* segment (``segment.py``): the lesion U-Net on the region of the counted lesions (or the
  whole photo where the fusion is on); its mask is drawn on the answer;
* count (``count.py``): the lesions at the operating confidence, plus, only where the
  grader says the fusion helped on the calibration fold, what the U-Net confirms or adds;
* grade (``grade.py``): Hayashi levels from the count;
* evidence (``evidence.py``): YuNet's best face and the skin-colour share, for the check
  that the photo shows a face at all.

The chain takes constructed models: loading them from files is the service's
(``inference/service/domains.py``).

Example (needs the trained weights):
    >>> chain = FaceChain(detector, unet, grader)                       # doctest: +SKIP
    >>> [a.measurements.lesion_count for a in chain.analyze([rgb])]     # doctest: +SKIP
    [7]
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from inference.models.face_detector import FaceDetector
from inference.models.unet import UNetModel
from inference.models.yolo import YoloDetector, peak_score
from inference.types import Detection, GradeResult, Segmentation

from .count import FaceMeasurements, FusionParams, fuse
from .detect import candidates
from .evidence import FACE_SURE, skin_share
from .grade import LEVEL_NAMES, CountGrader
from .segment import REGION_UNET_SIZE, lesion_index, lesion_region, lesion_segmentation


@dataclass(frozen=True)
class FaceAnalysis:
    detections: tuple[Detection, ...]  # the counted lesions, best first
    segmentation: Segmentation
    measurements: FaceMeasurements
    grade: GradeResult
    face_score: float = 0.0  # YuNet's best face in any quarter turn (0: none, or no face finder)
    skin: float = 0.0  # the share of skin-coloured pixels (``evidence.skin_share``)


class FaceChain:
    """Detector, lesion U-Net and count grader; ``analyze`` takes RGB arrays (any size)."""

    def __init__(self, detector: YoloDetector, unet: UNetModel, grader: CountGrader, use_fusion: bool | None = None,
                 faces: FaceDetector | None = None):
        self.detector, self.unet, self.grader = detector, unet, grader
        self.use_fusion = grader.fusion.enabled if use_fusion is None else use_fusion
        self.faces = faces  # the evidence's face finder (None: the skin colour alone)

    def sure_faces(self, images: list[np.ndarray]) -> list[bool]:
        """Per photo: does it show a face YuNet trusts (``evidence.FACE_SURE``)? A selfie or a
        portrait the router, trained on close-ups, calls neither is still a face."""
        if self.faces is None:
            return [False] * len(images)
        return [any(f.score >= FACE_SURE for f in self.faces.detect(im)) for im in images]

    def evidence(self, a: FaceAnalysis, rgb: np.ndarray) -> FaceAnalysis:
        """The analysis with what shows a face: YuNet's best face and the skin share."""
        # upright first (a face photo mostly is: one pass), the other quarter turns only without a face there
        found = (self.faces.detect(rgb, orientations=1) or self.faces.detect(rgb)) if self.faces is not None else []
        return replace(a, face_score=found[0].score if found else 0.0, skin=skin_share(rgb))

    def candidates(self, images: list[np.ndarray]) -> list[list[Detection]]:
        return candidates(self.detector, images, self.grader.merge, self.grader.conf)

    def lesion_probabilities(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Per image: the U-Net's class probabilities at its input size (C x S x S)."""
        return self.unet.probabilities(images)

    def analyze(self, images: list[np.ndarray], backgrounds: list[np.ndarray | None] | None = None,
                fusion: bool | None = None) -> list[FaceAnalysis]:
        """Detector, then the U-Net. With the fusion on, the U-Net sees the whole photo (it may
        add lesions anywhere); without it, only the region of the counted lesions
        (``lesion_region``), a fraction of the whole photo's pass (about a third: model card,
        "The lesion U-Net is weak"). ``backgrounds``: per photo, the pixels known not to be the
        person (transparent, flat); no lesion centred there is counted."""
        if not images:
            return []
        cands = self.candidates(images)
        if backgrounds is not None:
            cands = [c if bg is None else [d for d in c if not _centre_in(bg, d)] for c, bg in zip(cands, backgrounds)]
        if self.use_fusion if fusion is None else fusion:
            return [self.evidence(self.finish(im, c, p, True), im)
                    for im, c, p in zip(images, cands, self.lesion_probabilities(images))]
        li = lesion_index(self.unet.classes)
        windows = [lesion_region(im.shape, fuse(c, None, self.grader.conf, FusionParams())[0])
                   for im, c in zip(images, cands)]
        todo = [i for i, win in enumerate(windows) if win is not None]
        crops = []
        for i in todo:
            x1, y1, x2, y2 = windows[i]  # type: ignore[misc]
            crops.append(images[i][y1:y2, x1:x2])
        region_probs = dict(zip(todo, self.unet.probabilities(crops, REGION_UNET_SIZE)))
        out = []
        for i, (im, c) in enumerate(zip(images, cands)):
            h, w = im.shape[:2]
            probs = np.zeros((len(self.unet.classes), h, w), np.float32)
            win = windows[i]
            if win is not None:
                x1, y1, x2, y2 = win
                probs[li, y1:y2, x1:x2] = cv2.resize(region_probs[i][li], (x2 - x1, y2 - y1),
                                                     interpolation=cv2.INTER_LINEAR)
            out.append(self.evidence(self.finish(im, c, probs, False), im))
        return out

    def finish(self, rgb: np.ndarray, cands: list[Detection], probs: np.ndarray,
               fusion: bool | None = None) -> FaceAnalysis:
        """The steps after the two forward passes, for one photo."""
        h, w = rgb.shape[:2]
        use = self.use_fusion if fusion is None else fusion
        classes = self.unet.classes
        li = lesion_index(classes)
        lesion_prob = cv2.resize(probs[li], (w, h), interpolation=cv2.INTER_LINEAR)
        lesions, added = fuse(cands, lesion_prob, self.grader.conf, self.grader.fusion if use else FusionParams())
        seg = lesion_segmentation(lesion_prob, lesions, classes, li)
        count = len(lesions)
        m = FaceMeasurements(
            lesion_count=count,
            detector_count=sum(1 for d in cands if peak_score(d) >= self.grader.conf),
            added_by_unet=added,
            lesion_pixel_fraction=float((seg.labels == li).mean()),
            mean_score=float(np.mean([d.score for d in lesions])) if lesions else 0.0,
            level=LEVEL_NAMES[self.grader.level(count)],
            lesion_density=count / (h * w / 1e6),
        )
        return FaceAnalysis(tuple(lesions), seg, m, self.grader.grade(count))


def _centre_in(mask: np.ndarray, d: Detection) -> bool:
    h, w = mask.shape
    x, y = int((d.box.x1 + d.box.x2) / 2), int((d.box.y1 + d.box.y2) / 2)
    return bool(mask[min(max(y, 0), h - 1), min(max(x, 0), w - 1)])
