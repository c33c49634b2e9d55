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

import json
from typing import TYPE_CHECKING, Any

import numpy as np

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
    import torch
    import torchvision

    net = torchvision.models.mobilenet_v2(weights=None)
    if imagenet_state is not None:
        net.load_state_dict(imagenet_state, strict=True)
    net.classifier = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(net.last_channel, n_classes))
    return net


def save_router(path: Path, net: "torch.nn.Module", cfg: dict, half: bool = True) -> None:
    import torch

    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    torch.save({"config": cfg, "state_dict": state}, path)


class SkinRouter:
    def __init__(self, net: Any, cfg: dict, device: str = "cpu"):
        self.net = net.to(device).eval()
        self.cfg = cfg
        self.device = device
        self.classes = tuple(cfg.get("classes", ROUTER_CLASSES))
        self.size = int(cfg.get("size", ROUTER_SIZE))

    @classmethod
    def load(cls, directory: Path | None = None, device: str = "cpu", runtime: bool = False) -> "SkinRouter":
        """``runtime``: the product's loader; then ``router.onnx`` runs in ONNX Runtime where
        ``runtime_onnx`` says so, with the config from its metadata and no torch (training and
        its tests keep torch)."""
        from inference.models.onnx_utils import OnnxModule, runtime_onnx

        path = Path(directory or weights_dir()) / ROUTER_WEIGHTS
        onnx_path = runtime_onnx(device, path.with_name(ROUTER_ONNX)) if runtime else None
        module = OnnxModule(onnx_path) if onnx_path is not None else None
        if module is not None and "config" in module.metadata:  # no torch needed
            return cls(module, json.loads(module.metadata["config"]), device)
        import torch

        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        cfg = ckpt["config"]
        if module is not None:  # an older export without the config in its metadata
            return cls(module, cfg, device)
        net = build_router_net(len(cfg.get("classes", ROUTER_CLASSES)))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
        return cls(net, cfg, device)

    def probabilities(self, images: list[np.ndarray], batch: int = 32) -> np.ndarray:
        """N x len(classes) softmax probabilities, the batch in one forward pass (chunks of ``batch``)."""
        from inference.models.onnx_utils import OnnxModule
        from inference.models.unet import preprocess, preprocess_np, softmax_np

        out = []
        for i in range(0, len(images), batch):
            if isinstance(self.net, OnnxModule):
                out.append(softmax_np(self.net(preprocess_np(images[i : i + batch], self.size)), axis=1))
                continue
            import torch

            with torch.inference_mode():
                x = preprocess(images[i : i + batch], self.size).to(self.device)
                out.append(torch.softmax(self.net(x).float(), 1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

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
