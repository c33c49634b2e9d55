"""Frozen dataclasses shared by the model families (``inference/models``) and the pipeline.

Nothing here imports from the rest of the package: it is the bottom layer."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRADES = ("LOW", "MIDDLE", "HIGH")
UNCERTAIN = "UNCERTAIN"
# the five views of a scalp photo, as scalp_uze names them (the view classifier's classes)
VIEWS = ("Top-Down", "Back", "Front", "Left", "Right")


@dataclass(frozen=True)
class Box:
    """Pixel box in the original image, x1 y1 inclusive, x2 y2 exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    def clip(self, w: int, h: int) -> Box:
        return Box(min(max(self.x1, 0), w), min(max(self.y1, 0), h), min(max(self.x2, 0), w), min(max(self.y2, 0), h))

    def expand(self, frac: float) -> Box:
        dx, dy = self.width * frac, self.height * frac
        return Box(self.x1 - dx, self.y1 - dy, self.x2 + dx, self.y2 + dy)

    def as_int(self) -> tuple[int, int, int, int]:
        return int(round(self.x1)), int(round(self.y1)), int(round(self.x2)), int(round(self.y2))

    def as_list(self) -> list[float]:
        return [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)]


@dataclass(frozen=True)
class Detection:
    box: Box
    class_id: int
    label: str
    score: float
    # the detector's score for every class at this box (for grading)
    class_scores: tuple[float, ...] = ()


@dataclass(frozen=True)
class Segmentation:
    """Per-pixel labels for the whole image (0 background, then the model's classes).

    Pixels outside every detected region are background.
    """

    labels: np.ndarray  # H x W uint8
    classes: tuple[str, ...]
    # pixels of each class inside each region, region order as the detections
    region_pixels: tuple[dict[str, int], ...] = ()


@dataclass(frozen=True)
class GradeResult:
    grade: str  # LOW / MIDDLE / HIGH / UNCERTAIN
    confidence: float  # probability of the best grade
    best_guess: str  # the most likely of LOW / MIDDLE / HIGH, also when uncertain
    probabilities: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # why UNCERTAIN


@dataclass(frozen=True)
class Face:
    """A face in the photo's own pixels: its box and five landmarks (right eye, left eye,
    nose tip, right and left mouth corner, as YuNet gives them), and the detector's score."""

    box: Box
    landmarks: tuple[tuple[float, float], ...]  # 5 x (x, y)
    score: float

    @property
    def eyes(self) -> tuple[float, float]:
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return (rx + lx) / 2, (ry + ly) / 2

    @property
    def mouth(self) -> tuple[float, float]:
        (rx, ry), (lx, ly) = self.landmarks[3], self.landmarks[4]
        return (rx + lx) / 2, (ry + ly) / 2
