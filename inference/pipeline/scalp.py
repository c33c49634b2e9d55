"""The scalp chain on a batch of photos: detect -> segment -> measure -> grade.

The detector finds the head region; the grade combines the U-Net's measurements in it,
the grade CNN's probabilities on the same region (a MobileNetV2 fine-tuned on head
crops, ``inference/train/grade_cnn.py``) and, in graders fitted where they were out of
sample, the detector's class scores, in one logistic grader (``scalp_grader.json``,
which names the features it uses).

Example (needs the trained weights in ``weights/``):
    >>> from inference.pipeline.scalp import ScalpModels
    >>> models = ScalpModels.load()                      # doctest: +SKIP
    >>> [a.grade.grade for a in models.analyze([rgb])]   # doctest: +SKIP
    ['MIDDLE']
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.models.unet import load_unet
from inference.models.yolo import YoloDetector
from inference.paths import weights_dir

from .detect import detect
from .grade import CNN_FEATURES, LogisticGrader, grade_scalp
from .measure import measure_scalp
from .segment import RegionSegmenter
from .types import Box, Detection, GradeResult, ScalpMeasurements, Segmentation

SCALP_DETECTOR = "scalp_yolo.pt"
SCALP_SEGMENTER = "scalp_unet.pt"
SCALP_GRADER = "scalp_grader.json"
SCALP_CNN = "scalp_cnn.pt"
SCALP_CNN_ONNX = "scalp_cnn.onnx"
DETECT_CONF = 0.05  # keep weak boxes: the grader decides how much to trust them
DEFAULT_FLIPS = ("none", "h", "v", "hv")


@dataclass(frozen=True)
class ScalpAnalysis:
    detections: tuple[Detection, ...]
    segmentation: Segmentation
    measurements: ScalpMeasurements
    grade: GradeResult


class ScalpModels:
    def __init__(self, detector: YoloDetector, segmenter: RegionSegmenter, grader: LogisticGrader,
                 flips: tuple[str, ...] | None = None, classifier=None):
        self.detector, self.segmenter, self.grader = detector, segmenter, grader
        self.classifier = classifier  # the grade CNN (ImageClassifier), when the grader uses it
        # the flips the grader was fitted with (stored beside its weights)
        self.flips = tuple(flips or getattr(grader, "flips", None) or DEFAULT_FLIPS)

    @classmethod
    def load(cls, directory: Path | None = None, device: str = "cpu") -> "ScalpModels":
        from inference.models.classifier import ImageClassifier

        d = Path(directory or weights_dir())
        grader = LogisticGrader.load(d / SCALP_GRADER)
        cnn = (ImageClassifier.load_files(d / SCALP_CNN, d / SCALP_CNN_ONNX, device, runtime=True)
               if CNN_FEATURES[0] in grader.features else None)
        return cls(
            YoloDetector(d / SCALP_DETECTOR, device=device, runtime=True),
            RegionSegmenter(load_unet(d / SCALP_SEGMENTER, device=device, runtime=True), device=device),
            grader,
            classifier=cnn,
        )

    def crops(self, images: list[np.ndarray], regions: list[tuple[Detection | None, list[Detection]]]) -> list[np.ndarray]:
        """The head region of each photo as the U-Net crops it (``RegionSegmenter.crops``):
        what the grade CNN sees; the whole photo where the region is too small to crop."""
        out = []
        for im, (_, dets) in zip(images, regions):
            c = self.segmenter.crops(im, dets[:1])
            out.append(c[0][1] if c else im)
        return out

    def regions(self, images: list[np.ndarray]) -> list[tuple[Detection | None, list[Detection]]]:
        """The head region of each photo: the detector's best box, or the whole photo when none."""
        out = []
        for im, dets in zip(images, detect(self.detector, images, DETECT_CONF, self.flips)):
            if dets:
                out.append((dets[0], [dets[0]]))
            else:
                h, w = im.shape[:2]
                out.append((None, [Detection(Box(0, 0, w, h), -1, "image", 0.0, ())]))
        return out

    def analyze(self, images: list[np.ndarray]) -> list[ScalpAnalysis]:
        regions = self.regions(images)
        segs = self.segmenter.segment(images, [r for _, r in regions])
        cnn = self.classifier.probabilities(self.crops(images, regions)) if self.classifier is not None else [None] * len(images)
        out = []
        for im, (best, dets), seg, c in zip(images, regions, segs, cnn):
            m = measure_scalp(seg, dets, im.shape[0] * im.shape[1])
            out.append(ScalpAnalysis(tuple(d for d in dets if d.class_id >= 0), seg, m, grade_scalp(self.grader, best, m, c)))
        return out
