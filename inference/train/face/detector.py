"""The lesion detector: a one-class YOLO fine-tuned from the COCO backbone and neck."""
from __future__ import annotations

from pathlib import Path

from inference.artifacts import FACE_DETECTOR

from ..yolo_trainer import YoloTrainConfig, slim_checkpoint, train_yolo
from .context import FaceRun
from .labels import DETECTOR_NAMES

YOLO_START = "pretrained/yolov5nu_coco_backbone-neck.pt"  # under the shared data folder


def detector_stage(run: FaceRun, data: Path) -> None:
    """Train on the YOLO set ``data`` (or take ``--detector``) and save the shipped checkpoint."""
    a = run.args
    tcy = YoloTrainConfig(imgsz=a.imgsz, epochs=a.epochs, batch=a.batch, device=run.yolo_device, seed=a.seed,
                          workers=a.workers, mosaic=a.mosaic, close_mosaic=a.close_mosaic,
                          flipud=0.0,  # faces are photographed upright
                          degrees=0.0, scale=a.scale)
    if a.detector:
        best = Path(a.detector)
        run.log.set("detector_from", str(best))
    else:
        best = train_yolo(data, run.shared / YOLO_START, run.build / "yolo_runs", tcy)
    slim_checkpoint(best, run.out / FACE_DETECTOR,
                    meta={"classes": list(DETECTOR_NAMES), "data": "acne04 (academic use only)"})
