"""Post-training int8 quantization of the YOLO detectors, the scalp U-Net and the router, for the CPU.

Why: on a small CPU the 640 px detector is the largest share of a photo's time (README,
"Performance"); static int8 quantization (QDQ format, per-channel weights, VNNI kernels)
runs it in about three quarters of the float time, with the same metrics on the valid
splits (model card, "CPU int8 twins", gives both). ONNX Runtime's own quantizer does the
work; this module only says what stays float and feeds it calibration photos.

What stays float: the detector head's last 1x1 convolutions (the box and class
logits) and everything after them (DFL, box decoding, sigmoid, concat). The head's
output concatenates boxes in pixels (0-640) with scores in [0, 1]: one uint8 scale
for both leaves every score at 0. Activation ranges come from the 99.99th percentile
of the calibration photos, not their min/max (min/max spends the range on outliers: it
cost the lesion detector mAP50, model card, "Tried, not shipped"). The scalp U-Net keeps
its segmentation head in float and runs faster with the same mask IoU; the router keeps
its classifier in float (times and routing figures: model card, "CPU int8 twins"). The
lesion U-Net stays float: its lesion probabilities sit near the 0.3 threshold that marks
a pixel, and int8 lowered its overlap with the labelled lesions (model card, "Tried, not
shipped").

The int8 file sits beside the float export (``scalp_yolo.onnx`` ->
``scalp_yolo.int8.onnx``); the product's loaders pick it on the CPU unless
``INFERENCE_INT8=off`` (``inference.models.onnx_runtime.Backend``). GPUs run the
float network in torch.

Example (needs the weights and a few photos):
    >>> from inference.models.quantize import quantize_detector
    >>> quantize_detector("weights/face_yolo.onnx", photos, 640)   # doctest: +SKIP
    PosixPath('weights/face_yolo.int8.onnx')
"""
from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .onnx_export import add_metadata
from .onnx_runtime import int8_path

CALIBRATION_PERCENTILE = 99.99
CALIBRATION_PHOTOS = 48  # enough for stable ranges; calibration time grows linearly with it


def _detect_module(node_names: list[str]) -> str:
    """The Ultralytics Detect module's name prefix ("/model.24/"): the highest-numbered module."""
    ids = [int(m.group(1)) for n in node_names if (m := re.match(r"^/model\.(\d+)/", n))]
    if not ids:
        raise ValueError("not an Ultralytics YOLO export: no /model.N/ nodes")
    return f"/model.{max(ids)}/"


def detector_float_nodes(node_names: list[str]) -> list[str]:
    """Nodes of a YOLO export left in float: the Detect module except its first two convolutions
    per branch (``cv2.i.0``, ``cv2.i.1``, ``cv3.i.0``, ``cv3.i.1``), which are quantized."""
    head = _detect_module(node_names)
    inner = re.compile(re.escape(head) + r"cv[23]\.\d+/cv[23]\.\d+\.[01]/")
    return [n for n in node_names if n.startswith(head) and not inner.match(n)]


def quantize_onnx(src: Path, dst: Path, inputs: Iterable[np.ndarray], float_nodes: list[str] | None = None,
                  percentile: float = CALIBRATION_PERCENTILE) -> Path:
    """Static int8 quantization of ``src`` (one float input) into ``dst``, calibrated on ``inputs``
    (arrays as the network takes them). ``float_nodes``: node names to leave in float, or a
    function of the node names. The metadata of ``src`` is kept."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    first = onnx.load(str(src), load_external_data=False)
    input_name = first.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it: Iterator[np.ndarray] = iter(inputs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {input_name: np.ascontiguousarray(x, np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # folds the fp16-stored weights' casts and infers shapes (dynamic axes: no symbolic pass)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        names = [n.name for n in onnx.load(str(pre)).graph.node]
        exclude = float_nodes(names) if callable(float_nodes) else list(float_nodes or [])
        quantize_static(
            str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=exclude,
            calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": percentile},
        )
    return dst


def quantize_detector(onnx_path: Path, photos: list[np.ndarray], imgsz: int, dst: Path | None = None) -> Path:
    """The int8 twin of a YOLO export, calibrated on RGB ``photos`` letterboxed as at run time
    (use training photos: never the split the metrics are reported on)."""
    from .yolo import letterbox, to_batch

    if not photos:
        raise ValueError("quantization needs calibration photos")
    dst = Path(dst) if dst is not None else int8_path(onnx_path)
    batches = (to_batch([letterbox(p, imgsz)[0]]) for p in photos)
    quantize_onnx(onnx_path, dst, batches, detector_float_nodes)
    add_metadata(dst, {"quantization": f"int8 QDQ per-channel; float head outputs; percentile {CALIBRATION_PERCENTILE} "
                                       f"on {len(photos)} training photos at {imgsz} px"})
    return dst


def segmenter_float_nodes(node_names: list[str]) -> list[str]:
    """Nodes of a segmentation_models_pytorch export left in float: the segmentation head
    (the class logits the probabilities come from)."""
    return [n for n in node_names if n.startswith("/segmentation_head/")]


def _quantize_normalised(onnx_path: Path, images: list[np.ndarray], size: int, float_nodes, kept: str, what: str,
                         dst: Path | None) -> Path:
    """An ImageNet-normalised network (U-Net, router) calibrated on RGB ``images`` resized to ``size``."""
    from .unet import preprocess_np

    if not images:
        raise ValueError("quantization needs calibration images")
    dst = Path(dst) if dst is not None else int8_path(onnx_path)
    quantize_onnx(onnx_path, dst, (preprocess_np([im], size) for im in images), float_nodes)
    add_metadata(dst, {"quantization": f"int8 QDQ per-channel; float {kept}; percentile {CALIBRATION_PERCENTILE} "
                                       f"on {len(images)} {what} at {size} px"})
    return dst


def quantize_segmenter(onnx_path: Path, crops: list[np.ndarray], size: int, dst: Path | None = None) -> Path:
    """The int8 twin of a U-Net export, calibrated on RGB ``crops`` as the pipeline feeds it
    (the regions the detector found, resized to ``size``)."""
    return _quantize_normalised(onnx_path, crops, size, segmenter_float_nodes, "segmentation head",
                                "detected regions of training photos", dst)


def classifier_float_nodes(node_names: list[str]) -> list[str]:
    """Nodes of the router (torchvision MobileNetV2) left in float: its classifier."""
    return [n for n in node_names if n.startswith("/classifier/")]


def quantize_classifier(onnx_path: Path, images: list[np.ndarray], size: int, dst: Path | None = None) -> Path:
    """The int8 twin of the router export, calibrated on RGB ``images`` of every class."""
    return _quantize_normalised(onnx_path, images, size, classifier_float_nodes, "classifier", "training images", dst)


def calibration_photos(paths: list[Path], n: int = CALIBRATION_PHOTOS) -> list[np.ndarray]:
    """``n`` photos spread evenly over ``paths``, read as RGB."""
    import cv2

    paths = sorted(paths)
    step = max(1, len(paths) // max(n, 1))
    out = []
    for p in paths[::step][:n]:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is not None:
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return out
