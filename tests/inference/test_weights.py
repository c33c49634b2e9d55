"""The shipped scalp weights: sizes, ONNX agreement with PyTorch, and the pipeline on real photos."""
from __future__ import annotations

import json

import cv2
import numpy as np
import onnxruntime as ort
import torch

from inference.models.onnx_runtime import Backend
from inference.models.unet import load_unet, preprocess
from inference.models.yolo import YoloDetector
from inference.service.domains import load_scalp
from inference.types import GRADES, UNCERTAIN

MAX_BYTES = 16 * 1024 * 1024


def _photos(shared, n=4):
    paths = sorted((shared / "datasets/scalp_uze/valid").glob("*.jpg"))[:n]
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def test_every_shipped_model_is_small(weights):
    for name in (
        "scalp_yolo.pt",
        "scalp_yolo.onnx",
        "scalp_unet.pt",
        "scalp_unet.onnx",
        "scalp_cnn.pt",
        "scalp_cnn.onnx",
        "scalp_view.pt",
        "scalp_view.onnx",
        "scalp_view.int8.onnx",
    ):
        assert (weights / name).stat().st_size < MAX_BYTES, name
    assert (weights / "MODEL_CARD.md").exists()


def test_unet_onnx_agrees_with_pytorch(weights, shared):
    seg = load_unet(weights / "scalp_unet.pt")
    x = preprocess(_photos(shared), seg.cfg.image_size)
    with torch.no_grad():
        ref = torch.softmax(seg.net(x), 1)
    sess = ort.InferenceSession(str(weights / "scalp_unet.onnx"), providers=["CPUExecutionProvider"])
    got = torch.softmax(torch.from_numpy(sess.run(None, {"images": x.numpy()})[0]), 1)
    assert (ref.argmax(1) == got.argmax(1)).float().mean() > 0.995
    assert (ref - got).abs().mean() < 0.01


def test_grade_cnn_onnx_agrees_with_pytorch(weights, shared):
    """The shipped grade CNN on head-sized crops: the float ONNX export gives torch's
    probabilities (its int8 twin is checked in test_quantize.py), and the grader the
    pipeline loads uses it."""
    from inference.models.classifier import ImageClassifier
    from inference.pipeline.scalp.grade import CNN_FEATURES, LogisticGrader

    crops = [im[60:560, 70:570] for im in _photos(shared)]
    ref = ImageClassifier.load(weights / "scalp_cnn.pt").probabilities(crops)
    onnx = ImageClassifier.load(weights / "scalp_cnn.pt", Backend("cpu", int8=False))
    assert onnx.net.path.name == "scalp_cnn.onnx"
    got = onnx.probabilities(crops)
    np.testing.assert_allclose(got, ref, atol=0.02)  # fp16-stored weights, two runtimes
    assert (got.argmax(1) == ref.argmax(1)).all()
    grader = LogisticGrader.from_json(json.loads((weights / "scalp_grader.json").read_text()))
    assert grader.features[-3:] == CNN_FEATURES


def test_yolo_onnx_agrees_with_pytorch(weights, shared):
    det = YoloDetector(weights / "scalp_yolo.pt")
    x, _ = det.preprocess(_photos(shared))
    ref = det.forward(x).numpy()
    sess = ort.InferenceSession(str(weights / "scalp_yolo.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    best = ref[:, 4:].max(1).argmax(1)  # the best anchor of each photo
    for b, a in enumerate(best):
        assert np.abs(got[b, :4, a] - ref[b, :4, a]).max() < 2.0
        assert np.abs(got[b, 4:, a] - ref[b, 4:, a]).max() < 0.02


def test_scalp_pipeline_on_real_photos(weights, shared):
    models = load_scalp(weights, Backend())
    photos = _photos(shared, 6)
    batch = models.analyze(photos)
    for rgb, a in zip(photos, batch):
        assert a.grade.grade in GRADES + (UNCERTAIN,)
        assert a.grade.best_guess in GRADES
        assert abs(sum(a.grade.probabilities.values()) - 1) < 1e-3
        assert 0 <= a.measurements.exposed_scalp_ratio <= 1
        assert a.segmentation.labels.shape == rgb.shape[:2]
        assert a.detections, "a head is found on every valid photo checked here"
        m = a.measurements
        assert m.hair_pixels + m.scalp_pixels > 0.1 * a.detections[0].box.area
    # one photo at a time gives the same answer as the batch
    single = models.analyze(photos[:1])[0]
    assert single.grade.best_guess == batch[0].grade.best_guess
    assert abs(single.measurements.exposed_scalp_ratio - batch[0].measurements.exposed_scalp_ratio) < 1e-3


def test_bald_crown_measures_more_exposed_scalp_than_full_hair(weights, shared):
    """Median exposed-scalp ratio rises with the labelled grade on the valid split's crown views."""
    import csv

    rows = [r for r in csv.DictReader(open(shared / "datasets/scalp_uze/labels.csv"))
            if r["split"] == "valid" and "Top-Down" in r["filename"]]
    models = load_scalp(weights, Backend())
    by_grade = {g: [] for g in GRADES}
    for r in rows:
        rgb = cv2.cvtColor(cv2.imread(str(shared / "datasets/scalp_uze/valid" / r["filename"])), cv2.COLOR_BGR2RGB)
        by_grade[r["grade3"]].append(models.analyze([rgb])[0].measurements.exposed_scalp_ratio)
    med = {g: float(np.median(v)) for g, v in by_grade.items() if v}
    assert med["LOW"] < med["HIGH"], med


def test_the_shipped_face_finder_is_what_the_scalp_training_writes(weights, shared, tmp_path):
    """The shared YuNet with its weights stored in fp16 (``ship_face_finder``), byte for byte, and
    not the shared file itself."""
    import shutil

    from inference.artifacts import FACE_FINDER
    from inference.models.onnx_export import store_weights_fp16
    from inference.train.scalp.export import YUNET

    src = shared / YUNET / FACE_FINDER
    made = tmp_path / FACE_FINDER
    shutil.copyfile(src, made)
    store_weights_fp16(made)
    shipped = (weights / FACE_FINDER).read_bytes()
    assert shipped == made.read_bytes() and shipped != src.read_bytes()
