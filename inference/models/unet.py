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

if TYPE_CHECKING:  # torch is imported where a torch network is built or run, not by the ONNX CPU path
    import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class UNetConfig:
    classes: tuple[str, ...]
    encoder: str = "mobilenet_v2"
    # A slimmer decoder than smp's default (256..16): a third of the weights, the
    # same masks on our data, and twice as fast on a CPU.
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 8)
    image_size: int = 256

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "UNetConfig":
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


def preprocess(images_rgb: list[np.ndarray], size: int) -> "torch.Tensor":
    """``preprocess_np`` as a tensor (for torch networks)."""
    import torch

    return torch.from_numpy(preprocess_np(images_rgb, size).copy())


def softmax_np(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class SegmenterBundle:
    cfg: UNetConfig
    net: Any  # a torch module, or an OnnxModule
    meta: dict = field(default_factory=dict)


def save_unet(path: Path, cfg: UNetConfig, net: "torch.nn.Module", meta: dict | None = None, half: bool = True) -> None:
    import torch

    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    torch.save({"config": cfg.to_json(), "state_dict": state, "meta": meta or {}}, path)


def load_unet(path: Path, device: str = "cpu", runtime: bool = False) -> SegmenterBundle:
    """``runtime``: the product's loaders ask for it; then the ONNX export beside the weights
    runs in ONNX Runtime where ``runtime_onnx`` says so (training code keeps torch)."""
    from inference.models.onnx_utils import OnnxModule, runtime_onnx

    onnx_path = runtime_onnx(device, Path(path).with_suffix(".onnx")) if runtime else None
    module = OnnxModule(onnx_path) if onnx_path is not None else None
    if module is not None and "config" in module.metadata:  # written by export_onnx: no torch needed
        meta = module.metadata
        return SegmenterBundle(UNetConfig.from_json(json.loads(meta["config"])), module, json.loads(meta.get("meta", "{}")))
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = UNetConfig.from_json(ckpt["config"])
    if module is not None:  # an older export without the config in its metadata
        return SegmenterBundle(cfg, module, ckpt.get("meta", {}))
    net = build_unet(cfg)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    return SegmenterBundle(cfg, net.to(device).eval(), ckpt.get("meta", {}))


def export_onnx(net: "torch.nn.Module", cfg: UNetConfig, path: Path, half: bool = False, meta: dict | None = None) -> None:
    """ONNX with dynamic batch and spatial axes (any multiple of 32: the face pipeline runs
    the lesion U-Net on regions at another size than the whole photo's); ``half`` stores the
    weights in fp16. The config (and ``meta``) go into the file's metadata, so the service
    runs it without torch."""
    import torch

    from .onnx_utils import add_metadata, store_weights_fp16

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


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
