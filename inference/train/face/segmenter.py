"""The lesion U-Net (background / lesion) on native-resolution tiles of the fit photos,
encoder from the ImageNet MobileNetV2."""
from __future__ import annotations

import time
from pathlib import Path

from inference.artifacts import FACE_SEGMENTER
from inference.models.unet import UNetConfig, load_unet, save_unet

from ..unet_trainer import UNetTrainConfig, train_unet
from .context import FaceRun
from .labels import LESION_CLASSES, FacePhotos, tile_samples


def segmenter_stage(run: FaceRun, photos: FacePhotos) -> None:
    """Train on tiles of ``photos.fit`` (or take ``--segmenter``) and save the shipped U-Net."""
    a = run.args
    cfg = UNetConfig(LESION_CLASSES, image_size=a.seg_infer_size)
    if a.segmenter:
        b = load_unet(Path(a.segmenter))
        cfg, net = b.cfg, b.net
        run.log.set("segmenter_from", str(a.segmenter))
    else:
        tc = UNetTrainConfig(size=a.seg_size, steps=a.seg_steps, device=run.device, seed=a.seed, lr=2e-3)
        net = train_unet(cfg, [(tile_samples(photos.fit, a.seg_tile), 1.0)], tc, encoder_state=run.encoder)
    save_unet(run.out / FACE_SEGMENTER, cfg, net, half=True,
              meta={"trained": time.strftime("%Y-%m-%d"), "data": "acne04 box ellipses (academic use only)",
                    "tile": a.seg_tile})
