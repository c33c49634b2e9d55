"""The router: scalp, face (skin close-up) or neither, from one small classifier.

A MobileNetV2 (torchvision layout, ImageNet start, ``weights/router.pt`` in fp16,
about 4.5 MB) with a 3-way head trained on scalp_uze (all five views: a front
view that shows a face is still a scalp question), ACNE04 (close-ups of facial
skin) and a code-made "neither" set (documents, charts, landscapes, shapes,
noise, drawn animals, and the few photos shipped inside pip packages); see
``inference/train/route_trainer.py``. No file of ``../shared`` (YuNet included)
is shipped or read at run time.

``SkinRouter`` satisfies ``inference.pipeline.route.Router`` (``route`` answers
"scalp" or "face" only); ``classify`` also answers "neither", which the service
turns into the ``not_scalp_or_face`` quality reason.

Example (needs ``weights/router.pt``):
    >>> router = SkinRouter.load()                    # doctest: +SKIP
    >>> router.classify([scalp_rgb, cheek_rgb, page])  # doctest: +SKIP
    ['scalp', 'face', 'neither']
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Any

import numpy as np

from inference.models.classifier import ImageClassifier, build_mobilenet, save_classifier
from inference.paths import weights_dir

if TYPE_CHECKING:  # torch only where the torch network is built or run
    import torch

ROUTER_WEIGHTS = "router.pt"
ROUTER_ONNX = "router.onnx"
ROUTER_CLASSES = ("scalp", "face", "neither")
NEITHER = "neither"
ROUTER_SIZE = 224


@dataclass(frozen=True)
class RouteDecision:
    domain: str  # "scalp" or "face": the pipeline to run (the likelier of the two)
    neither: bool  # the photo looks like neither: the service answers not_scalp_or_face
    probabilities: dict[str, float]


def build_router_net(n_classes: int = len(ROUTER_CLASSES), imagenet_state: dict | None = None) -> "torch.nn.Module":
    """torchvision MobileNetV2 with an ``n_classes`` head (ImageNet features when given)."""
    return build_mobilenet(n_classes, imagenet_state)


def save_router(path: Path, net: "torch.nn.Module", cfg: dict, half: bool = True) -> None:
    save_classifier(path, net, cfg, half)


class SkinRouter(ImageClassifier):
    def __init__(self, net: Any, cfg: dict, device: str = "cpu"):
        super().__init__(net, {"classes": list(ROUTER_CLASSES), "size": ROUTER_SIZE, **cfg}, device)

    @classmethod
    def load(cls, directory: Path | None = None, device: str = "cpu", runtime: bool = False) -> "SkinRouter":
        """``runtime``: the product's loader (``router.onnx`` in ONNX Runtime, no torch; see
        ``ImageClassifier.load_files``)."""
        path = Path(directory or weights_dir()) / ROUTER_WEIGHTS
        return cls.load_files(path, path.with_name(ROUTER_ONNX), device, runtime)

    def classify(self, images: list[np.ndarray]) -> list[str]:
        """"scalp", "face" or "neither" per image."""
        return [self.classes[int(i)] for i in self.probabilities(images).argmax(1)]

    def route(self, images: list[np.ndarray]) -> list[str]:
        """The ``Router`` protocol: the likelier of "scalp" and "face" (never "neither")."""
        p = self.probabilities(images)
        keep = [self.classes.index(d) for d in ("scalp", "face")]
        return [("scalp", "face")[int(i)] for i in p[:, keep].argmax(1)]

    def decisions(self, images: list[np.ndarray]) -> list[RouteDecision]:
        """Domain, "neither" flag and probabilities per image (one forward pass)."""
        p = self.probabilities(images)
        si, fi, ni = (self.classes.index(c) for c in ROUTER_CLASSES)
        return [RouteDecision("face" if q[fi] > q[si] else "scalp", bool(q.argmax() == ni),
                              {c: round(float(v), 4) for c, v in zip(self.classes, q)}) for q in p]
