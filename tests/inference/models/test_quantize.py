"""The int8 CPU exports: what stays float, that the shipped twins agree with the float
networks on real photos, which file the product loads, and the quantizer itself."""
from __future__ import annotations

import ast

import cv2
import numpy as np
import onnx
import pytest

from inference.models.onnx_runtime import Backend, OnnxModule, int8_path
from inference.models.quantize import (
    classifier_float_nodes,
    detector_float_nodes,
    quantize_detector,
    segmenter_float_nodes,
)
from inference.models.unet import preprocess_np, softmax_np
from inference.models.yolo import box_iou, letterbox, postprocess, to_batch
from inference.service.settings import Settings, SettingsError
from tests.paths import SHARED, WEIGHTS

W = WEIGHTS
DETECTORS = {"scalp_yolo.onnx": "scalp_uze/valid", "face_yolo.onnx": "acne04/valid/images"}


def _photos(folder: str, n: int) -> list[np.ndarray]:
    paths = sorted((SHARED / "datasets" / folder).glob("*.jpg"))[:: 7][:n]
    if len(paths) < n:
        pytest.skip(f"../shared/datasets/{folder} is missing")
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def _need(*names: str) -> None:
    missing = [n for n in names if not (W / n).is_file()]
    if missing:
        pytest.skip(f"weights missing: {missing}")


def test_int8_path_sits_beside_the_float_export():
    assert int8_path(W / "scalp_yolo.onnx") == W / "scalp_yolo.int8.onnx"
    assert int8_path("router.onnx").name == "router.int8.onnx"


def test_detector_head_outputs_stay_float():
    _need("scalp_yolo.onnx")
    names = [n.name for n in onnx.load(str(W / "scalp_yolo.onnx"), load_external_data=False).graph.node]
    keep = set(detector_float_nodes(names))
    convs = [n for n in names if n.endswith("/Conv")]
    head = [n for n in convs if "/cv2." in n or "/cv3." in n]
    assert head, "no Detect branches found"
    for n in head:  # the logits' convolutions stay float, the ones before them are quantized
        assert (n in keep) == bool(n.split("/")[-2].endswith(".2")), n
    assert any("/dfl/" in n for n in keep) and any(n.endswith("Sigmoid") for n in keep)
    assert not any(n.startswith("/model.0/") for n in keep)  # the backbone is quantized
    with pytest.raises(ValueError):
        detector_float_nodes(["/encoder/conv/Conv", "/decoder/Relu"])


def test_segmenter_head_stays_float():
    names = [
        "/encoder/features.0/Conv",
        "/decoder/blocks.4/conv2/conv2.0/Conv",
        "/segmentation_head/segmentation_head.0/Conv",
    ]
    assert segmenter_float_nodes(names) == ["/segmentation_head/segmentation_head.0/Conv"]


def _xyxy(dets) -> np.ndarray:
    return np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in dets]).reshape(-1, 4)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_shipped_int8_detector_agrees_with_the_float_export(name):
    """The float export's best box is found by the int8 twin (IoU >= 0.7) with a score and
    class scores within 0.1, and the best class agrees; the int8 file keeps the metadata the
    run time reads (class names, input size)."""
    _need(name, int8_path(name).name)
    fp, q = OnnxModule(W / name), OnnxModule(int8_path(W / name))
    meta = q.metadata
    assert meta["names"] == fp.metadata["names"] and meta["imgsz"] == fp.metadata["imgsz"]
    assert "int8" in meta["quantization"]
    names = tuple(ast.literal_eval(meta["names"]).values())
    imgsz = ast.literal_eval(meta["imgsz"])[0]
    same_class = 0
    photos = _photos(DETECTORS[name], 6)
    for im in photos:
        x, m = letterbox(im, imgsz)
        a = postprocess(fp(to_batch([x])), [m], names, conf=0.05)[0]
        b = postprocess(q(to_batch([x])), [m], names, conf=0.05)[0]
        assert a and b
        ious = box_iou(_xyxy(a[:1]), _xyxy(b))[0]
        near = b[int(ious.argmax())]
        assert ious.max() >= 0.7, (name, ious.max())  # lesions are ~20 px: 0.7 is a pixel or two
        assert abs(near.score - a[0].score) < 0.1
        assert np.abs(np.subtract(near.class_scores, a[0].class_scores)).max() < 0.1
        same_class += a[0].class_id == near.class_id
    assert same_class >= len(photos) - 1


def test_shipped_int8_scalp_unet_agrees_with_the_float_export():
    _need("scalp_unet.onnx", "scalp_unet.int8.onnx")
    fp, q = OnnxModule(W / "scalp_unet.onnx"), OnnxModule(W / "scalp_unet.int8.onnx")
    for im in _photos("scalp_uze/valid", 4):
        x = preprocess_np([im], 256)
        la, lb = softmax_np(fp(x))[0].argmax(0), softmax_np(q(x))[0].argmax(0)
        assert (la == lb).mean() >= 0.95


def test_runtime_picks_int8_on_the_cpu_unless_switched_off(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"x")
    assert Backend("cpu").onnx_file(f) == f  # no twin yet
    int8_path(f).write_bytes(b"x")
    assert Backend("cpu").onnx_file(f) == int8_path(f)
    assert Backend("cpu", int8=False).onnx_file(f) == f
    assert Backend("cuda").onnx_file(f) is None  # GPUs run torch
    assert Backend("cpu", "torch").onnx_file(f) is None
    assert Backend.torch().onnx_file(f) is None
    assert Backend("cpu", "onnx").onnx_file(tmp_path / "absent.onnx") is None  # no export: torch


def test_service_settings_read_the_backend_choice(monkeypatch):
    monkeypatch.delenv("INFERENCE_BACKEND", raising=False)
    monkeypatch.setenv("INFERENCE_INT8", "off")
    s = Settings.from_env(device="cpu")
    assert s.runtime() == Backend("cpu", "auto", False, 0)
    monkeypatch.setenv("INFERENCE_INT8", "sometimes")
    with pytest.raises(SettingsError, match="INFERENCE_INT8"):
        Settings.from_env()
    monkeypatch.setenv("INFERENCE_INT8", "auto")
    monkeypatch.setenv("INFERENCE_BACKEND", "tpu")
    with pytest.raises(SettingsError, match="INFERENCE_BACKEND"):
        Settings.from_env()


def test_quantize_detector_writes_a_working_twin(tmp_path):
    """The quantizer end to end on the shipped float export, with two calibration photos."""
    _need("face_yolo.onnx")
    photos = _photos("acne04/valid/images", 2)
    src = tmp_path / "face_yolo.onnx"
    src.write_bytes((W / "face_yolo.onnx").read_bytes())
    out = quantize_detector(src, photos, 320)
    assert out == tmp_path / "face_yolo.int8.onnx" and out.stat().st_size < src.stat().st_size * 1.2
    m = onnx.load(str(out))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = {p.key: p.value for p in m.metadata_props}
    assert "names" in meta and "on 2 training photos at 320 px" in meta["quantization"]
    y = OnnxModule(out)(to_batch([letterbox(photos[0], 320)[0]]))
    assert y.shape[:2] == (1, 5) and np.isfinite(y).all()
    assert 0 <= y[0, 4].min() and y[0, 4].max() <= 1  # scores stayed probabilities


def test_shipped_int8_router_routes_like_the_float_export():
    """Scalp and face valid photos and code-made "neither" photos: the same class from both."""
    _need("router.onnx", "router.int8.onnx")
    from inference.train.router.neither import neither_set

    fp, q = OnnxModule(W / "router.onnx"), OnnxModule(W / "router.int8.onnx")
    assert [n for n in classifier_float_nodes([n.name for n in onnx.load(str(W / "router.int8.onnx")).graph.node])]
    images = _photos("scalp_uze/valid", 4) + _photos("acne04/valid/images", 4) + [it.rgb for it in neither_set(4, 4242)]
    x = preprocess_np(images, 224)
    pa, pb = softmax_np(fp(x)), softmax_np(q(x))
    assert (pa.argmax(1) == pb.argmax(1)).all()
    assert np.abs(pa - pb).max() < 0.15


def test_shipped_int8_grade_cnn_grades_like_the_float_export():
    """Head crops of valid photos, as the scalp chain cuts them: the same grade from both,
    with the classifier kept float."""
    _need("scalp_cnn.onnx", "scalp_cnn.int8.onnx")
    from inference.service.domains import load_scalp

    fp, q = OnnxModule(W / "scalp_cnn.onnx"), OnnxModule(W / "scalp_cnn.int8.onnx")
    assert [n for n in classifier_float_nodes([n.name for n in onnx.load(str(W / "scalp_cnn.int8.onnx")).graph.node])]
    models = load_scalp(W, Backend())
    images = _photos("scalp_uze/valid", 8)
    x = preprocess_np(models.crops(images, models.regions(images)), 224)
    pa, pb = softmax_np(fp(x)), softmax_np(q(x))
    assert (pa.argmax(1) == pb.argmax(1)).mean() >= 7 / 8
    assert np.abs(pa - pb).max() < 0.2
