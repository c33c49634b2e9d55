"""The router network: scalp, face or neither, from one small classifier.

A MobileNetV2 (torchvision layout, ImageNet start, fp16 weights of about 4.5 MB) with a
3-way head, trained on scalp_uze (all five views: a front view that shows a face is
still a scalp question), ACNE04 (close-ups of facial skin) and a code-made "neither" set
(``inference/train/router/``). What the pipeline does with its probabilities is
``inference.pipeline.common.route``.

Example (needs ``weights/router.pt``):
    >>> router = Router.load(Path("weights/router.pt"))        # doctest: +SKIP
    >>> router.classify([scalp_rgb, cheek_rgb, page])          # doctest: +SKIP
    ['scalp', 'face', 'neither']
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .classifier import ImageClassifier, build_mobilenet, save_classifier

if TYPE_CHECKING:  # torch only where the torch network is built or run
    import torch

ROUTER_CLASSES = ("scalp", "face", "neither")
ROUTER_SIZE = 224


def build_router_net(n_classes: int = len(ROUTER_CLASSES), imagenet_state: dict | None = None) -> torch.nn.Module:
    """torchvision MobileNetV2 with an ``n_classes`` head (ImageNet features when given)."""
    return build_mobilenet(n_classes, imagenet_state)


def save_router(path: Path, net: torch.nn.Module, cfg: dict, half: bool = True) -> None:
    save_classifier(path, net, cfg, half)


class Router(ImageClassifier):
    """An ``ImageClassifier`` whose classes default to ``ROUTER_CLASSES`` at ``ROUTER_SIZE``."""

    def __init__(self, net: Any, cfg: dict, device: str = "cpu"):
        super().__init__(net, {"classes": list(ROUTER_CLASSES), "size": ROUTER_SIZE, **cfg}, device)

    def classify(self, images: list[np.ndarray]) -> list[str]:
        """"scalp", "face" or "neither" per image."""
        return [self.classes[int(i)] for i in self.probabilities(images).argmax(1)]
