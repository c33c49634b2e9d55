"""MobileNetV2 image classifiers: the router and the scalp grade CNN are this family.

A torchvision MobileNetV2 (ImageNet start) with a small head; its checkpoint holds the
config (``classes``, ``size``) and the fp16 state dict; its ONNX export carries the same
config in its metadata, so the CPU service runs it in ONNX Runtime without torch.

The config may also fix a test-time view: ``center_crop`` (the share of each side kept
around the centre before resizing, as the training's random crops keep 78-100% of it)
and ``flips`` (``"h"``, ``"v"``: mirrored copies whose probabilities are averaged with the
original's, in the same forward pass). Without them the whole image is used once.

Example (no weights needed):
    >>> import numpy as np
    >>> clf = ImageClassifier(build_mobilenet(3), {"classes": ["a", "b", "c"], "size": 64})
    >>> clf.probabilities([np.zeros((80, 100, 3), np.uint8)]).shape
    (1, 3)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from .onnx_runtime import Backend, OnnxModule
from .unet import preprocess_np, softmax_np

if TYPE_CHECKING:  # torch only where the torch network is built or run
    import torch

DEFAULT_SIZE = 224
FLIP_AXES = {"h": 3, "v": 2}  # test-time flips: the N x 3 x H x W axis each mirrors


def build_mobilenet(n_classes: int, imagenet_state: dict | None = None) -> torch.nn.Module:
    """torchvision MobileNetV2 with an ``n_classes`` head (ImageNet features when given)."""
    import torch
    import torchvision

    net = torchvision.models.mobilenet_v2(weights=None)
    if imagenet_state is not None:
        net.load_state_dict(imagenet_state, strict=True)
    net.classifier = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(net.last_channel, n_classes))
    return net


def save_classifier(path: Path, net: torch.nn.Module, cfg: dict, half: bool = True) -> None:
    import torch

    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    torch.save({"config": cfg, "state_dict": state}, path)


def export_classifier_onnx(net: torch.nn.Module, cfg: dict, path: Path) -> Path:
    """ONNX with a dynamic batch axis, weights stored in fp16, the config in its metadata."""
    import torch

    from .onnx_export import add_metadata, store_weights_fp16

    size = int(cfg.get("size", DEFAULT_SIZE))
    torch.onnx.export(net.cpu().float().eval(), torch.zeros(1, 3, size, size), str(path), input_names=["images"],
                      output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    store_weights_fp16(path)
    add_metadata(path, {"config": json.dumps(cfg)})  # the service runs it without torch
    return path


class ImageClassifier:
    def __init__(self, net: Any, cfg: dict, device: str = "cpu"):
        self.net = net.to(device).eval()  # a torch module or an OnnxModule
        self.cfg = cfg
        self.device = device
        self.classes = tuple(cfg["classes"])
        self.size = int(cfg.get("size", DEFAULT_SIZE))
        self.center_crop = float(cfg.get("center_crop", 1.0))
        self.flips = tuple(cfg.get("flips", ()))
        # a network trained on finer classes (Norwood levels) sums its outputs into ``classes``
        self.output_groups = [list(g) for g in cfg.get("output_groups", ())]
        if not 0.0 < self.center_crop <= 1.0 or set(self.flips) - set(FLIP_AXES):
            raise ValueError(f"bad test-time view: center_crop={self.center_crop}, flips={self.flips}")

    def view(self, image: np.ndarray) -> np.ndarray:
        """The part of ``image`` the network sees (its centre, per ``center_crop``)."""
        if self.center_crop >= 1.0:
            return image
        h, w = image.shape[:2]
        ch, cw = max(1, round(h * self.center_crop)), max(1, round(w * self.center_crop))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return image[y0 : y0 + ch, x0 : x0 + cw]

    @classmethod
    def load(cls, weights: Path, backend: Backend | None = None) -> Self:
        """The classifier saved at ``weights`` (``.pt``); where ``backend`` runs ONNX, the export
        beside it in ONNX Runtime with the config from its metadata, and no torch. None: torch
        on the CPU, as training runs it."""
        backend = backend or Backend.torch()
        module = backend.module(Path(weights).with_suffix(".onnx"))
        if module is not None and "config" in module.metadata:  # no torch needed
            return cls(module, json.loads(module.metadata["config"]), backend.device)
        import torch

        ckpt = torch.load(weights, map_location="cpu", weights_only=True)
        cfg = ckpt["config"]
        if module is not None:  # an export without the config in its metadata
            return cls(module, cfg, backend.device)
        net = build_mobilenet(int(cfg.get("outputs", len(cfg["classes"]))))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
        return cls(net, cfg, backend.device)

    def probabilities(self, images: list[np.ndarray], batch: int = 32) -> np.ndarray:
        """N x len(classes) softmax probabilities, each chunk of ``batch`` images (with their
        flipped copies) in one forward pass."""
        views = 1 + len(self.flips)
        out = []
        for i in range(0, len(images), batch):
            x = preprocess_np([self.view(im) for im in images[i : i + batch]], self.size)
            x = np.concatenate([x] + [np.ascontiguousarray(np.flip(x, FLIP_AXES[f])) for f in self.flips])
            if isinstance(self.net, OnnxModule):
                p = softmax_np(self.net(x), axis=1)
            else:
                import torch

                with torch.inference_mode():
                    p = torch.softmax(self.net(torch.from_numpy(x).to(self.device)).float(), 1).cpu().numpy()
            p = p.reshape(views, -1, p.shape[1]).mean(0)
            if self.output_groups:
                p = np.stack([p[:, g].sum(1) for g in self.output_groups], 1)
            out.append(p)
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)
