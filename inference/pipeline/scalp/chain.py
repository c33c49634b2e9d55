"""The scalp chain on a batch of photos: detect -> segment -> anatomy -> measure -> grade.

The detector finds the head region; the U-Net labels its pixels; the anatomy step
(``anatomy.py``) turns them into the answer's classes (background, hair, scalp, other skin)
with what is known for sure: nothing below a found face's eyebrow line is scalp, and
transparent or flat pixels are background. The measurements count hair and scalp in the
scalp zone of the region; the grade combines them, the grade CNN's probabilities on the same
crop (a MobileNetV2 fine-tuned on head crops) and, in graders fitted where they were out of
sample, the detector's class scores, in one logistic grader that names the features it
uses. The chain takes constructed models: loading them from files is the service's
(``inference/service/domains.py``).

Example (needs the trained weights):
    >>> chain = ScalpChain(detector, RegionSegmenter(unet), grader, classifier=cnn)   # doctest: +SKIP
    >>> [a.grade.grade for a in chain.analyze([rgb])]                                 # doctest: +SKIP
    ['MIDDLE']
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from inference.models.classifier import ImageClassifier
from inference.models.face_detector import FaceDetector
from inference.models.yolo import YoloDetector
from inference.types import Box, Detection, Face, GradeResult, Segmentation

from .anatomy import OTHER_SKIN, SCALP_CLASSES, anatomy_labels, neck_below_hair
from .detect import detect
from .grade import LogisticGrader, grade_scalp
from .measure import ScalpMeasurements, measure_scalp
from .segment import RegionSegmenter
from .view import ViewEstimate, predict_views
from .zones import zone_masks, zone_ratios

DETECT_CONF = 0.05  # keep weak boxes: the grader decides how much to trust them
DEFAULT_FLIPS = ("none", "h", "v", "hv")
# A photo the view classifier is this sure shows a crown or the back of the head is not searched
# for faces: on the 598 scalp_uze photos YuNet finds no trusted face in any of them (192
# photos of 598 at 0.9; measured 2026-12-07), and the search costs about 5 ms a photo.
NO_FACE_VIEWS = ("Top-Down", "Back")
NO_FACE_SURE = 0.9
FILL = 114  # the grey a face-free crop shows where the face was (the detectors' letterbox grey)

Region = tuple[Detection | None, list[Detection]]  # the best box (None: none found), the boxes measured


def surely_faceless(view_probabilities: dict[str, float]) -> bool:
    """The view classifier is ``NO_FACE_SURE`` of a crown or the back of the head: no face is
    in view (the chain does not search one, and there is no face to check)."""
    return sum(view_probabilities.get(n, 0.0) for n in NO_FACE_VIEWS) >= NO_FACE_SURE


@dataclass(frozen=True)
class Measured:
    """A photo measured, before the grade CNN and the grade."""

    best: Detection | None  # the detector's best box (None: none found, the whole photo measured)
    dets: list[Detection]  # the boxes measured
    segmentation: Segmentation
    faces: tuple[Face, ...]
    cut: np.ndarray | None  # the faces' below-brow side, outside the scalp zone
    measurements: ScalpMeasurements
    neck: np.ndarray | None = None  # seen from behind: skin below the hair, other skin in the answer


@dataclass(frozen=True)
class ScalpAnalysis:
    detections: tuple[Detection, ...]
    segmentation: Segmentation  # labels in SCALP_CLASSES; region_pixels counted in the scalp zone
    measurements: ScalpMeasurements
    grade: GradeResult
    faces: tuple[Face, ...] = ()


class ScalpChain:
    def __init__(self, detector: YoloDetector, segmenter: RegionSegmenter, grader: LogisticGrader,
                 flips: tuple[str, ...] | None = None, classifier: ImageClassifier | None = None,
                 faces: FaceDetector | None = None, view: ImageClassifier | None = None):
        self.detector, self.segmenter, self.grader = detector, segmenter, grader
        self.classifier = classifier  # the grade CNN, where the grader uses it
        self.faces = faces  # YuNet: what lies below a face's eyebrows is not scalp
        self.view = view  # the view classifier: which Norwood zones the photo shows
        # the flips the grader was fitted with (stored beside its weights)
        self.flips = tuple(flips or getattr(grader, "flips", None) or DEFAULT_FLIPS)
        self._side = ThreadPoolExecutor(1, thread_name_prefix="scalp-side")

    def crops(self, images: list[np.ndarray], regions: list[Region]) -> list[np.ndarray]:
        """The head region of each photo as the U-Net crops it (``RegionSegmenter.crops``); the
        whole photo where the region is too small to crop."""
        out = []
        for im, (_, dets) in zip(images, regions):
            c = self.segmenter.crops(im, dets[:1])
            out.append(c[0][1] if c else im)
        return out

    def cnn_crop(self, image: np.ndarray, m: Measured, face_free: bool | None = None) -> np.ndarray:
        """What the grade CNN sees: the head region's crop; face-free (for a CNN whose config says
        ``face_free``, or as asked), with the other skin and the face side of the brow line filled
        grey, so that no face, ear or neck weighs on the grade."""
        c = self.segmenter.crops(image, m.dets[:1])
        if not c:
            return image
        (x1, y1, x2, y2), crop = c[0]
        if face_free is None:
            face_free = self.classifier is not None and bool(self.classifier.cfg.get("face_free"))
        if not face_free:
            return crop
        hide = m.segmentation.labels[y1:y2, x1:x2] == OTHER_SKIN
        if m.neck is not None:  # the grade CNN learnt from crops that showed the neck
            hide &= ~m.neck[y1:y2, x1:x2]
        if m.cut is not None:
            hide |= m.cut[y1:y2, x1:x2]
        out = crop.copy()
        out[hide] = FILL
        return out

    def cnn_crops(self, images: list[np.ndarray], face_free: bool | None = None) -> list[np.ndarray]:
        """What the grade CNN sees in each photo (``cnn_crop``), for training and calibration:
        face-free crops need the photo measured; plain ones only its region."""
        if face_free is None:
            face_free = self.classifier is not None and bool(self.classifier.cfg.get("face_free"))
        if not face_free:
            return self.crops(images, self.regions(images))
        return [self.cnn_crop(im, m, True) for im, m in zip(images, self.measure(images, views=[None] * len(images)))]

    def regions(self, images: list[np.ndarray]) -> list[Region]:
        """The head region of each photo: the detector's best box, or the whole photo when none."""
        out: list[Region] = []
        for im, dets in zip(images, detect(self.detector, images, DETECT_CONF, self.flips)):
            if dets:
                out.append((dets[0], [dets[0]]))
            else:
                h, w = im.shape[:2]
                out.append((None, [Detection(Box(0, 0, w, h), -1, "image", 0.0, ())]))
        return out

    def _views_and_faces(self, images: list[np.ndarray], views: list[ViewEstimate | None] | None
                         ) -> tuple[list[ViewEstimate | None], list[tuple[Face, ...]]]:
        """Each photo's view (``views`` where known, else the classifier's) and its faces; no face
        search where the view is sure the photo shows none (``NO_FACE_VIEWS``)."""
        if views is None:
            views = list(predict_views(self.view, images)) if self.view is not None else [None] * len(images)
        found = []
        for im, v in zip(images, views):
            faceless = v is not None and surely_faceless(v.probabilities)
            found.append(tuple(self.faces.detect(im)) if self.faces is not None and not faceless else ())
        return views, found

    def anatomy(self, image: np.ndarray, seg: Segmentation, dets: list[Detection],
                background: np.ndarray | None, faces: tuple[Face, ...], view: str | None = None
                ) -> tuple[Segmentation, np.ndarray | None, np.ndarray | None]:
        """The segmenter's labels as the answer's classes (``anatomy.py``) with ``faces``, the
        pixels of each region counted in the scalp zone (outside every found face's below-brow
        half-plane), the face cut (None without a face) and, seen from behind, the neck
        (``neck_below_hair``; None otherwise), which is other skin."""
        labels, cut = anatomy_labels(seg.labels, seg.classes, faces, background)
        neck = neck_below_hair(labels) if view == "Back" else None
        if neck is not None:
            labels[neck] = OTHER_SKIN
        h, w = labels.shape
        counts = []
        for d in dets:
            x1, y1, x2, y2 = d.box.clip(w, h).as_int()
            region = labels[y1:y2, x1:x2]
            if cut is not None:
                region = region[~cut[y1:y2, x1:x2]]
            bc = np.bincount(region.ravel(), minlength=len(SCALP_CLASSES))
            counts.append({c: int(bc[i]) for i, c in enumerate(SCALP_CLASSES)})
        return Segmentation(labels, SCALP_CLASSES, tuple(counts)), cut, neck

    def measure(self, images: list[np.ndarray], backgrounds: list[np.ndarray | None] | None = None,
                views: list[ViewEstimate | None] | None = None) -> list[Measured]:
        """Everything but the grade CNN and the grade: region, labels, faces, zones, view.
        ``backgrounds``: per photo, the pixels known not to be the person (transparent or flat);
        ``views``: the view of each photo where it is known already (else the classifier's)."""
        known = views
        # the view and the faces need only the photo: found on a second thread while the detector
        # and the U-Net run (ONNX Runtime releases the GIL; YuNet runs on one thread)
        side = self._side.submit(self._views_and_faces, images, known)
        regions = self.regions(images)
        segs = self.segmenter.segment(images, [r for _, r in regions])
        views, found = side.result()
        bgs = backgrounds or [None] * len(images)
        out = []
        for im, (best, dets), raw, bg, v, faces in zip(images, regions, segs, bgs, views, found):
            seg, cut, neck = self.anatomy(im, raw, dets, bg, faces, v.view if v else None)
            zone = ~cut if cut is not None else np.ones(seg.labels.shape, bool)
            ratios = zone_ratios(seg.labels, zone_masks(seg.labels, zone, v.view if v else None, faces))
            m = measure_scalp(seg, dets, im.shape[0] * im.shape[1], ratios,
                              v.view if v else None, v.probabilities if v else None)
            out.append(Measured(best, dets, seg, faces, cut, m, neck))
        return out

    def analyze(self, images: list[np.ndarray], backgrounds: list[np.ndarray | None] | None = None,
                views: list[ViewEstimate | None] | None = None) -> list[ScalpAnalysis]:
        """``measure``, the grade CNN on each photo's ``cnn_crop`` (one forward pass), the grade."""
        measured = self.measure(images, backgrounds, views)
        cnn: list[np.ndarray | None] = [None] * len(images)
        if self.classifier is not None:
            cnn = list(self.classifier.probabilities([self.cnn_crop(im, m) for im, m in zip(images, measured)]))
        return [ScalpAnalysis(tuple(d for d in m.dets if d.class_id >= 0), m.segmentation, m.measurements,
                              grade_scalp(self.grader, m.best, m.measurements, c), m.faces)
                for m, c in zip(measured, cnn)]
