"""The scalp chain as the later stages run it: the detector and U-Net this run wrote, the
product's face finder, with a neutral grader (the grade CNN's crops and the grader's
features come from it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.artifacts import SCALP_DETECTOR, SCALP_SEGMENTER
from inference.models.face_detector import FaceDetector
from inference.models.onnx_runtime import Backend
from inference.models.unet import load_unet
from inference.models.yolo import YoloDetector
from inference.pipeline.scalp.chain import ScalpChain
from inference.pipeline.scalp.grade import SCALP_FEATURES, LogisticGrader
from inference.pipeline.scalp.segment import RegionSegmenter


def neutral_grader() -> LogisticGrader:
    """A grader that weighs nothing: the chain's grade is not used, only what it measures."""
    n = len(SCALP_FEATURES)
    return LogisticGrader(SCALP_FEATURES, np.zeros(n), np.ones(n), np.zeros((3, n)), np.zeros(3))


def load_parts(out: Path, device: str) -> tuple[YoloDetector, RegionSegmenter, LogisticGrader]:
    """The detector and segmenter in ``out`` (torch, on ``device``) and a neutral grader."""
    backend = Backend.torch(device)
    detector = YoloDetector(out / SCALP_DETECTOR, backend)
    return detector, RegionSegmenter(load_unet(out / SCALP_SEGMENTER, backend)), neutral_grader()


def face_finder(shared: Path) -> FaceDetector:
    """The product's face finder (its own threshold), from the shared copy of the same file."""
    return FaceDetector(shared / "pretrained/yunet/yunet_s_320_320.onnx")


def load_chain(out: Path, device: str, flips=("none",), faces: FaceDetector | None = None) -> ScalpChain:
    return ScalpChain(*load_parts(out, device), flips=flips, faces=faces)
