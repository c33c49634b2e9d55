"""U-Net segmenters (segmentation-models-pytorch), built from a small config.

Example:
    >>> import torch
    >>> from inference.models.unet import UNetConfig, build_unet
    >>> cfg = UNetConfig(classes=("background", "skin", "hair"))
    >>> net = build_unet(cfg).eval()
    >>> net(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 3, 64, 64])
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .onnx_runtime import Backend, OnnxModule

if TYPE_CHECKING:  # torch is imported where a torch network is built or run, not by the ONNX CPU path
    import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class UNetConfig:
    classes: tuple[str, ...]
    encoder: str = "mobilenet_v2"
    # A slimmer decoder than smp's default (256..16): the same masks on our data with
    # fewer weights and a faster CPU pass (62% of the weights, 2.3x faster in torch at
    # 256 px on the 2-core CPU, measured 2026-12-07).
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 8)
    image_size: int = 256

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> UNetConfig:
        return cls(
            classes=tuple(d["classes"]),
            encoder=d.get("encoder", "mobilenet_v2"),
            decoder_channels=tuple(d.get("decoder_channels", (128, 64, 32, 16, 8))),
            image_size=int(d.get("image_size", 256)),
        )


def build_unet(cfg: UNetConfig, encoder_state: dict | None = None) -> torch.nn.Module:
    """A U-Net with ``len(cfg.classes)`` output channels (logits).

    ``encoder_state``: a torchvision state dict for the encoder (training start);
    nothing is ever downloaded.
    """
    import segmentation_models_pytorch as smp
    import torch

    net = smp.Unet(
        encoder_name=cfg.encoder,
        encoder_weights=None,
        decoder_channels=list(cfg.decoder_channels),
        classes=len(cfg.classes),
    )
    if encoder_state is not None:
        # torchvision's classifier is not part of the encoder; everything else must match.
        state = {k: v for k, v in encoder_state.items() if not k.startswith("classifier.")}
        torch.nn.Module.load_state_dict(net.encoder, state, strict=True)
    return net


def preprocess_np(images_rgb: list[np.ndarray], size: int) -> np.ndarray:
    """RGB uint8 HxWx3 arrays -> normalised N x 3 x size x size float32 array."""
    import cv2

    batch = np.empty((len(images_rgb), size, size, 3), dtype=np.float32)
    for i, im in enumerate(images_rgb):
        if im.shape[:2] != (size, size):
            im = cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
        batch[i] = im
    batch -= IMAGENET_MEAN * 255.0  # in place, in float32: (x / 255 - mean) / std
    batch *= 1.0 / (IMAGENET_STD * 255.0)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def preprocess(images_rgb: list[np.ndarray], size: int) -> torch.Tensor:
    """``preprocess_np`` as a tensor (for torch networks)."""
    import torch

    return torch.from_numpy(preprocess_np(images_rgb, size).copy())


def softmax_np(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class UNetModel:
    """A trained U-Net ready to run: its config, the network (a torch module or an
    ``OnnxModule``) and the training's metadata."""

    cfg: UNetConfig
    net: Any
    meta: dict = field(default_factory=dict)
    device: str = "cpu"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.cfg.classes

    @property
    def size(self) -> int:
        return self.cfg.image_size

    def probabilities(self, crops: list[np.ndarray], size: int | None = None) -> list[np.ndarray]:
        """Class probabilities (C x size x size) for each RGB crop, at the input side ``size``
        (default: the size it was trained at), all crops in one forward pass."""
        if not crops:
            return []
        size = size or self.size
        if isinstance(self.net, OnnxModule):  # numpy only: the CPU service never imports torch
            return list(softmax_np(self.net(preprocess_np(crops, size)), axis=1))
        import torch

        with torch.inference_mode():
            x = preprocess(crops, size).to(self.device)
            first = next(iter(self.net.parameters()), None)
            if first is not None and first.dtype == torch.float16:
                x = x.half()
            return list(torch.softmax(self.net(x).float(), dim=1).cpu().numpy())


def save_unet(path: Path, cfg: UNetConfig, net: torch.nn.Module, meta: dict | None = None, half: bool = True) -> None:
    import torch

    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    torch.save({"config": cfg.to_json(), "state_dict": state, "meta": meta or {}}, path)


def load_unet(path: Path, backend: Backend | None = None) -> UNetModel:
    """The U-Net saved at ``path`` (``.pt``); where ``backend`` runs ONNX, the export beside
    it in ONNX Runtime, its config read from the export's metadata (no torch). None: torch
    on the CPU, as training runs it."""
    backend = backend or Backend.torch()
    module = backend.module(Path(path).with_suffix(".onnx"))
    if module is not None and "config" in module.metadata:  # written by export_onnx: no torch needed
        meta = module.metadata
        return UNetModel(UNetConfig.from_json(json.loads(meta["config"])), module, json.loads(meta.get("meta", "{}")))
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = UNetConfig.from_json(ckpt["config"])
    if module is not None:  # an export without the config in its metadata
        return UNetModel(cfg, module, ckpt.get("meta", {}))
    net = build_unet(cfg)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    return UNetModel(cfg, net.to(backend.device).eval(), ckpt.get("meta", {}), backend.device)


def export_onnx(net: torch.nn.Module, cfg: UNetConfig, path: Path, half: bool = False,
                meta: dict | None = None) -> None:
    """ONNX with dynamic batch and spatial axes (any multiple of 32: the face pipeline runs
    the lesion U-Net on regions at another size than the whole photo's); ``half`` stores the
    weights in fp16. The config (and ``meta``) go into the file's metadata, so the service
    runs it without torch."""
    import torch

    from .onnx_export import add_metadata, store_weights_fp16

    net = net.eval().cpu()
    dummy = torch.zeros(1, 3, cfg.image_size, cfg.image_size)
    torch.onnx.export(
        net, dummy, str(path), input_names=["images"], output_names=["logits"],
        dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch", 2: "height", 3: "width"}},
        opset_version=17, dynamo=False,
    )
    if half:
        store_weights_fp16(path)
    add_metadata(path, {"config": json.dumps(cfg.to_json()), "meta": json.dumps(meta or {}, default=str)})


