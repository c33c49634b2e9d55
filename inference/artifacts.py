"""The files of a weights folder (``weights/``, or ``$WEIGHTS_DIR``): one name per artifact.

Training writes them (``inference/train``), the service loads them
(``inference/service/domains.py``). Each ``.pt`` network has its float ONNX export beside
it (``.onnx``) and, for some, an int8 twin (``.int8.onnx``).
"""
from __future__ import annotations

SCALP_DETECTOR = "scalp_yolo.pt"  # YOLO: the head region
SCALP_SEGMENTER = "scalp_unet.pt"  # U-Net: hair / scalp skin
SCALP_CNN = "scalp_cnn.pt"  # MobileNetV2 grade CNN on the head crop
SCALP_VIEW = "scalp_view.pt"  # MobileNetV2 on the whole photo: Top-Down / Back / Front / Left / Right
SCALP_GRADER = "scalp_grader.json"  # logistic grader over the measurements and the CNN
SCALP_METRICS = "scalp_metrics.json"

FACE_DETECTOR = "face_yolo.pt"  # YOLO: acne lesions
FACE_SEGMENTER = "face_unet.pt"  # U-Net: lesion pixels
FACE_GRADER = "face_grader.json"  # count thresholds (Hayashi levels)
FACE_METRICS = "face_metrics.json"

ROUTER = "router.pt"  # MobileNetV2: scalp / face / neither
FACE_FINDER = "yunet_s_320_320.onnx"  # OpenCV's YuNet face detector (Apache-2.0: yunet.LICENSE)
ROUTER_METRICS = "router_metrics.json"

MODEL_CARD = "MODEL_CARD.md"
