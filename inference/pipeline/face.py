"""The face (acne) chain on a batch of photos: detect lesions -> U-Net -> fuse -> count -> grade.

* detect: a one-class YOLO (``face_yolo.pt``) on the whole photo, letterboxed at
  the size it was trained at (ACNE04 photos were downscaled to 640 px before
  labelling: a larger input or tiles enlarge lesions beyond what it learnt); its
  overlapping boxes are merged as ``face_grader.json`` says (``BoxMerge``: NMS, or
  weighted box clustering, chosen on the calibration fold);
* segment: a lesion U-Net (``face_unet.pt``, classes background / lesion) on the
  whole photo, one forward pass for the batch; its mask is drawn on the answer;
* fuse (only when ``face_grader.json`` says it helped on the calibration fold):
  boxes under the operating confidence that the U-Net confirms, and U-Net blobs
  that no box covers, are added to the detector's boxes (``fuse``);
* measure: lesion count (what the grade rests on), lesion pixel share, scores;
* grade: Hayashi levels from the count with thresholds calibrated on photos the
  detector never trained on (a detector under-counts), mapped to LOW (mild),
  MIDDLE (moderate), HIGH (severe, very severe); UNCERTAIN when the count sits
  too close to a threshold for the level to be sure (``CountGrader``).

Example (needs the trained weights in ``weights/``):
    >>> from inference.pipeline.face import FaceModels
    >>> models = FaceModels.load()                                   # doctest: +SKIP
    >>> [a.measurements.lesion_count for a in models.analyze([rgb])]  # doctest: +SKIP
    [7]

The count thresholds alone (no weights needed):
    >>> g = CountGrader()
    >>> g.grade(3).best_guess, g.grade(12).best_guess, g.grade(40).best_guess
    ('LOW', 'MIDDLE', 'HIGH')
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from inference.models.yolo import peak_score
from inference.paths import weights_dir

from .types import GRADES, UNCERTAIN, Box, Detection, GradeResult, Segmentation

FACE_DETECTOR = "face_yolo.pt"
FACE_SEGMENTER = "face_unet.pt"
FACE_GRADER = "face_grader.json"
CANDIDATE_CONF = 0.05  # boxes kept from the detector for the fusion to look at
NMS_IOU = 0.5
HAYASHI = (5.0, 20.0, 50.0)  # lesion counts: 0-5 mild, 6-20 moderate, 21-50 severe, over 50 very severe
LEVEL_NAMES = ("mild", "moderate", "severe", "very_severe")
LEVEL_TO_GRADE = (0, 1, 2, 2)  # index into GRADES
# The U-Net learns an ellipse of this share of each ACNE04 box's sides (the boxes
# are drawn loose: the lesion itself spans about half of the box); a blob it finds
# is grown back by the same factor into a box.
MASK_FILL = 0.5


@dataclass(frozen=True)
class FusionParams:
    """How the U-Net's lesion probabilities add to the detector's boxes.

    ``confirm_prob``: a box scoring between ``CANDIDATE_CONF`` and the operating
    confidence is kept when the mean lesion probability in its centre reaches
    this (above 1: off). ``blob_prob``: U-Net blobs above this probability, of at
    least ``blob_min_area`` px (at 640 x 640) and covered by no kept box, are added
    as lesions (above 1: off). ``enabled``: whether the product uses the fusion.
    """

    enabled: bool = False
    confirm_prob: float = 2.0
    blob_prob: float = 2.0
    blob_min_area: float = 60.0

    @property
    def active(self) -> bool:
        return self.confirm_prob <= 1 or self.blob_prob <= 1


@dataclass(frozen=True)
class BoxMerge:
    """How the detector's overlapping boxes become lesions (``yolo.postprocess``).

    "nms" keeps the best box of each group (IoU above ``iou``); "cluster" fuses each
    group into its score-weighted mean box, scored by the group's support
    (``yolo.cluster_boxes``): the support orders the lesions (what mAP measures), and a
    cluster counts as a lesion when its strongest box reaches the operating confidence
    (``yolo.peak_score``), as a box after NMS does. The support itself grows with the
    lesion's size in pixels (more anchors see a larger lesion), and ACNE04's train photos
    are enlarged: counting by support over-counted the calibration fold against valid
    (15.9 against 13.7 a photo) and cost 6 points of grade accuracy. ``candidate_conf``:
    the raw boxes considered (for "cluster", the floor for joining a cluster; weak boxes
    add up)."""

    method: str = "nms"
    iou: float = NMS_IOU
    candidate_conf: float = CANDIDATE_CONF


@dataclass
class CountGrader:
    """Hayashi level from the lesion count, with calibrated thresholds.

    Level k when count > ``thresholds[k-1]``; probabilities from a cumulative
    logistic model on log(1 + count) with one ``slope`` (fitted by likelihood):
    P(level >= k) = sigmoid(slope * (log1p(count) - log1p(thresholds[k-1] + 0.5))).
    """

    thresholds: tuple[float, float, float] = HAYASHI
    slope: float = 6.0
    uncertain_below: float = 0.5
    conf: float = 0.25  # detector operating confidence: boxes at or above it are lesions
    fusion: FusionParams = field(default_factory=FusionParams)
    meta: dict = field(default_factory=dict)
    # the detector's input size at run time (None: the size it was trained at). ACNE04's
    # train photos are enlarged copies (median box side 31.5 px against 26.9 px in valid),
    # so a larger run-time size may match the product's photos better: measure before setting
    detector_imgsz: int | None = None
    merge: BoxMerge = field(default_factory=BoxMerge)  # files from before it: NMS at 0.5

    def level_probabilities(self, count: float | np.ndarray) -> np.ndarray:
        x = np.log1p(np.atleast_1d(np.asarray(count, np.float64)))[:, None]
        edges = np.log1p(np.asarray(self.thresholds, np.float64) + 0.5)[None]
        ge = 1 / (1 + np.exp(-self.slope * (x - edges)))  # P(level >= 1, 2, 3)
        ge = np.minimum.accumulate(ge, axis=1)
        p = np.concatenate([1 - ge[:, :1], ge[:, :-1] - ge[:, 1:], ge[:, -1:]], 1)
        return np.clip(p, 0, 1)

    def probabilities(self, count: float | np.ndarray) -> np.ndarray:
        """LOW / MIDDLE / HIGH probabilities (N x 3)."""
        p4 = self.level_probabilities(count)
        return np.stack([p4[:, 0], p4[:, 1], p4[:, 2] + p4[:, 3]], 1)

    def level(self, count: float) -> int:
        return int(sum(count > t for t in self.thresholds))

    def grade(self, count: float, reasons: tuple[str, ...] = ()) -> GradeResult:
        """The grade follows the thresholds; its probability says how sure (UNCERTAIN under
        ``uncertain_below``, or when ``reasons`` are given)."""
        p = self.probabilities(count)[0]
        i = LEVEL_TO_GRADE[self.level(count)]
        conf = float(p[i])
        why = list(reasons) + (["low_confidence"] if conf < self.uncertain_below else [])
        return GradeResult(UNCERTAIN if why else GRADES[i], round(conf, 4), GRADES[i],
                           {g: round(float(v), 4) for g, v in zip(GRADES, p)}, tuple(why))

    def to_json(self) -> dict:
        return {"thresholds": list(self.thresholds), "slope": self.slope, "uncertain_below": self.uncertain_below,
                "conf": self.conf, "fusion": asdict(self.fusion), "classes": list(GRADES),
                "levels": list(LEVEL_NAMES), "meta": self.meta, "detector_imgsz": self.detector_imgsz,
                "merge": asdict(self.merge)}

    @classmethod
    def from_json(cls, d: dict) -> "CountGrader":
        return cls(tuple(float(t) for t in d["thresholds"]), float(d["slope"]), float(d.get("uncertain_below", 0.5)),
                   float(d.get("conf", 0.25)), FusionParams(**d.get("fusion", {})), d.get("meta", {}),
                   int(d["detector_imgsz"]) if d.get("detector_imgsz") else None, BoxMerge(**d.get("merge", {})))

    @classmethod
    def load(cls, path: Path) -> "CountGrader":
        return cls.from_json(json.loads(Path(path).read_text()))

    # -- calibration (training side, kept here beside the model it fits) --------

    @staticmethod
    def fit_thresholds(counts: np.ndarray, levels: np.ndarray, max_count: int = 120) -> tuple[float, float, float]:
        """Integer thresholds maximising the LOW/MIDDLE/HIGH accuracy (t1, t2), then the
        4-level accuracy (t3); ties go to the thresholds closest to Hayashi's."""
        c, lv = np.asarray(counts, np.float64), np.asarray(levels, int)
        g3 = np.minimum(lv, 2)
        cand = np.arange(0, max_count + 1)
        best, key = HAYASHI[:2], None
        for t1 in cand[:60]:
            lvl1 = c > t1
            for t2 in cand[cand > t1][:100]:
                pred = lvl1.astype(int) + (c > t2)
                acc = (pred == g3).mean()
                k = (round(acc, 9), -abs(math.log1p(t1) - math.log1p(HAYASHI[0])) - abs(math.log1p(t2) - math.log1p(HAYASHI[1])))
                if key is None or k > key:
                    best, key = (float(t1), float(t2)), k
        t1, t2 = best
        key3, t3b = None, HAYASHI[2]
        for t3 in cand[cand > t2]:
            pred = (c > t1).astype(int) + (c > t2) + (c > t3)
            k = (round((pred == lv).mean(), 9), -abs(math.log1p(t3) - math.log1p(HAYASHI[2])))
            if key3 is None or k > key3:
                key3, t3b = k, float(t3)
        return t1, t2, t3b

    @classmethod
    def fit(cls, counts: np.ndarray, levels: np.ndarray, conf: float, fusion: FusionParams | None = None,
            merge: BoxMerge | None = None) -> "CountGrader":
        g = cls(cls.fit_thresholds(counts, levels), conf=conf, fusion=fusion or FusionParams(), merge=merge or BoxMerge())
        lv = np.asarray(levels, int)
        best = None
        for s in np.geomspace(1.0, 30.0, 60):
            g.slope = float(s)
            p = g.level_probabilities(counts)[np.arange(len(lv)), lv]
            ll = float(np.log(np.clip(p, 1e-6, 1)).sum())
            if best is None or ll > best[0]:
                best = (ll, float(s))
        g.slope = round(best[1], 4)
        # UNCERTAIN under the confidence where the kept photos reach 0.8 accuracy,
        # keeping at least 70% of them (as the scalp grader does); 0.4 .. 0.6
        p3 = g.probabilities(counts)
        y3 = np.minimum(lv, 2)
        pred = np.array([LEVEL_TO_GRADE[g.level(c)] for c in counts], int)
        conf3 = p3[np.arange(len(pred)), pred]
        g.uncertain_below = 0.45
        for t in np.arange(0.40, 0.61, 0.01):
            keep = conf3 >= t
            if keep.sum() >= 0.7 * len(lv) and (pred[keep] == y3[keep]).mean() >= 0.8:
                g.uncertain_below = round(float(t), 2)
                break
        return g


@dataclass(frozen=True)
class FaceMeasurements:
    lesion_count: int  # what the grade rests on (detector boxes at the operating point, + fusion)
    detector_count: int  # detector boxes at the operating point alone
    added_by_unet: int  # boxes the fusion added (0 when it is off)
    lesion_pixel_fraction: float  # U-Net lesion pixels / image pixels
    mean_score: float  # mean detector score of the counted boxes
    level: str  # Hayashi level from the calibrated thresholds
    lesion_density: float = 0.0  # counted lesions per megapixel of the analysed photo

    def as_dict(self) -> dict:
        return {"lesion_count": self.lesion_count, "lesion_density": round(self.lesion_density, 2),
                "lesion_density_unit": "per_megapixel", "detector_count": self.detector_count,
                "added_by_unet": self.added_by_unet, "lesion_pixel_fraction": round(self.lesion_pixel_fraction, 5),
                "mean_score": round(self.mean_score, 4), "level": self.level}


@dataclass(frozen=True)
class FaceAnalysis:
    detections: tuple[Detection, ...]  # the counted lesions, best first
    segmentation: Segmentation
    measurements: FaceMeasurements
    grade: GradeResult


def _centre_mean(prob: np.ndarray, box: Box, frac: float = 0.5) -> float:
    h, w = prob.shape
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    hw, hh = max(1.0, box.width * frac / 2), max(1.0, box.height * frac / 2)
    x1, x2 = int(max(0, cx - hw)), int(min(w, math.ceil(cx + hw)))
    y1, y2 = int(max(0, cy - hh)), int(min(h, math.ceil(cy + hh)))
    win = prob[y1:y2, x1:x2]
    return float(win.mean()) if win.size else 0.0


def fuse(candidates: list[Detection], lesion_prob: np.ndarray, conf: float, params: FusionParams,
         label: str = "acne") -> tuple[list[Detection], int]:
    """The detector's boxes at ``conf`` plus what the U-Net adds under ``params``.

    Returns the lesions (best first) and how many the U-Net added. ``lesion_prob``
    is the U-Net's lesion probability at the photo's size.
    """
    kept = [d for d in candidates if peak_score(d) >= conf]
    base = len(kept)
    if params.confirm_prob <= 1:
        for d in candidates:
            if peak_score(d) < conf and _centre_mean(lesion_prob, d.box) >= params.confirm_prob:
                kept.append(d)
    if params.blob_prob <= 1:
        h, w = lesion_prob.shape
        min_area = params.blob_min_area * (h * w) / (640.0 * 640.0)
        n, lab, stats, _ = cv2.connectedComponentsWithStats((lesion_prob >= params.blob_prob).astype(np.uint8), connectivity=8)
        covered = np.zeros((h, w), bool)
        for d in kept:
            x1, y1, x2, y2 = d.box.clip(w, h).as_int()
            covered[y1:y2, x1:x2] = True
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if area < min_area:
                continue
            comp = lab[y : y + bh, x : x + bw] == i
            if covered[y : y + bh, x : x + bw][comp].mean() > 0.2:
                continue
            # the blob is the ellipse inside a labelled box: grow it back
            cx, cy, ex, ey = x + bw / 2, y + bh / 2, bw / MASK_FILL / 2, bh / MASK_FILL / 2
            score = float(lesion_prob[y : y + bh, x : x + bw][comp].mean())
            kept.append(Detection(Box(cx - ex, cy - ey, cx + ex, cy + ey).clip(w, h), 0, label, score, (score,)))
    kept.sort(key=lambda d: -d.score)
    return kept, len(kept) - base


LESION_PIXEL_PROB = 0.3  # U-Net lesion probability that marks a pixel, inside a counted lesion's box
REGION_MARGIN = 24  # px around the counted lesions' boxes: the region the U-Net sees
REGION_UNET_SIZE = 320  # the U-Net's input side for that region (the whole photo: the config's 512)


def lesion_region(shape: tuple[int, ...], lesions) -> tuple[int, int, int, int] | None:
    """The square window (x1, y1, x2, y2) around all counted lesions, ``REGION_MARGIN`` wider,
    inside the photo; None without lesions. Square, so the U-Net sees it unstretched."""
    if not lesions:
        return None
    h, w = shape[:2]
    x1 = min(d.box.x1 for d in lesions) - REGION_MARGIN
    y1 = min(d.box.y1 for d in lesions) - REGION_MARGIN
    x2 = max(d.box.x2 for d in lesions) + REGION_MARGIN
    y2 = max(d.box.y2 for d in lesions) + REGION_MARGIN
    side = min(max(x2 - x1, y2 - y1, 32), w, h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    return left, top, left + int(side), top + int(side)


def lesion_segmentation(lesion_prob: np.ndarray, lesions, classes: tuple[str, ...], li: int) -> Segmentation:
    """Lesion pixels: the U-Net's lesion probability at or above ``LESION_PIXEL_PROB``
    inside the boxes of the counted lesions (the U-Net on the detected regions).

    The shipped lesion U-Net never puts a pixel's lesion probability above 0.5 (lesions are
    1-2% of the pixels it learnt from), so an argmax would mark nothing. 0.3 inside a box
    matched the drawn-ellipse masks with IoU 0.46 on 40 calibration-fold photos (the U-Net
    on the lesion region at 320 px; 0.44 on the whole photo at 512); lower thresholds fill
    whole boxes, which says nothing the box does not. Per lesion box the
    pixel counts go to ``region_pixels``.
    """
    h, w = lesion_prob.shape[:2]
    labels = np.zeros((h, w), np.uint8)
    counts = []
    for d in lesions:
        x1, y1, x2, y2 = d.box.clip(w, h).as_int()
        win = lesion_prob[y1:y2, x1:x2] >= LESION_PIXEL_PROB
        labels[y1:y2, x1:x2][win] = li
        counts.append({classes[li]: int(win.sum())})
    return Segmentation(labels, classes, tuple(counts))


class FaceModels:
    """Detector, lesion U-Net and count grader; ``analyze`` takes RGB arrays (any size)."""

    def __init__(self, detector, segmenter, grader: CountGrader, use_fusion: bool | None = None):
        self.detector, self.segmenter, self.grader = detector, segmenter, grader
        self.use_fusion = grader.fusion.enabled if use_fusion is None else use_fusion

    @classmethod
    def load(cls, directory: Path | None = None, device: str = "cpu") -> "FaceModels":
        from inference.models.unet import load_unet
        from inference.models.yolo import YoloDetector

        from .segment import RegionSegmenter

        d = Path(directory or weights_dir())
        grader = CountGrader.load(d / FACE_GRADER)
        return cls(
            YoloDetector(d / FACE_DETECTOR, device=device, imgsz=grader.detector_imgsz, runtime=True),
            RegionSegmenter(load_unet(d / FACE_SEGMENTER, device=device, runtime=True), device=device),
            grader,
        )

    def candidates(self, images: list[np.ndarray]) -> list[list[Detection]]:
        m = self.grader.merge
        return self.detector.detect(images, conf=min(m.candidate_conf, self.grader.conf), iou=m.iou, merge=m.method)

    def lesion_probabilities(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Per image: the U-Net's class probabilities at its input size (C x S x S)."""
        return self.segmenter.predict(images)

    def analyze(self, images: list[np.ndarray], fusion: bool | None = None) -> list[FaceAnalysis]:
        """Detector, then the U-Net. With the fusion on, the U-Net sees the whole photo (it may
        add lesions anywhere); without it, only the region of the counted lesions
        (``lesion_region``), which costs about a third of the whole photo's pass."""
        if not images:
            return []
        cands = self.candidates(images)
        if self.use_fusion if fusion is None else fusion:
            return [self.finish(im, c, p, True) for im, c, p in zip(images, cands, self.lesion_probabilities(images))]
        li = self._lesion_index()
        windows = [lesion_region(im.shape, fuse(c, None, self.grader.conf, FusionParams())[0]) for im, c in zip(images, cands)]
        todo = [i for i, win in enumerate(windows) if win is not None]
        region_probs = dict(zip(todo, self.segmenter.predict_at(
            [images[i][windows[i][1] : windows[i][3], windows[i][0] : windows[i][2]] for i in todo], REGION_UNET_SIZE)))
        out = []
        for i, (im, c) in enumerate(zip(images, cands)):
            h, w = im.shape[:2]
            probs = np.zeros((len(self.segmenter.classes), h, w), np.float32)
            if i in region_probs:
                x1, y1, x2, y2 = windows[i]
                probs[li, y1:y2, x1:x2] = cv2.resize(region_probs[i][li], (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
            out.append(self.finish(im, c, probs, False))
        return out

    def _lesion_index(self) -> int:
        classes = self.segmenter.classes
        return classes.index("lesion") if "lesion" in classes else len(classes) - 1

    def finish(self, rgb: np.ndarray, cands: list[Detection], probs: np.ndarray, fusion: bool | None = None) -> FaceAnalysis:
        """The steps after the two forward passes, for one photo."""
        h, w = rgb.shape[:2]
        use = self.use_fusion if fusion is None else fusion
        classes = self.segmenter.classes
        li = classes.index("lesion") if "lesion" in classes else len(classes) - 1
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
