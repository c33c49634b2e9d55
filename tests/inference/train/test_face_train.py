"""`python -m inference.train face` end to end on a few photos (one short epoch, a few U-Net steps)."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from inference.artifacts import FACE_DETECTOR, FACE_GRADER, FACE_SEGMENTER, ROUTER
from inference.models.onnx_runtime import Backend
from inference.models.router import ROUTER_CLASSES, Router
from inference.models.unet import load_unet, preprocess
from inference.models.yolo import YoloDetector
from inference.pipeline.common.route import DOMAINS, route
from inference.service.domains import load_face
from inference.types import GRADES, UNCERTAIN

pytestmark = pytest.mark.slow

TINY = ["--limit", "8", "--epochs", "1", "--imgsz", "160", "--imgsz-diagnostic", "160", "192", "--batch", "4",
        "--workers", "0", "--seg-steps", "2", "--seg-size", "128", "--seg-infer-size", "256", "--router-copies", "1",
        "--sheets", "8", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared, project_root):
    out = tmp_path_factory.mktemp("weights")
    build = tmp_path_factory.mktemp("build")
    cmd = [sys.executable, "-m", "inference.train", "face", *TINY, "--shared", str(shared), "--out", str(out),
           "--build", str(build)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, build, proc.stdout


def test_training_writes_every_artefact(trained):
    out, build, stdout = trained
    for name in (FACE_DETECTOR, "face_yolo.onnx", FACE_SEGMENTER, "face_unet.onnx", "router.pt", "router.onnx"):
        assert (out / name).exists(), name
        assert (out / name).stat().st_size < 16e6, name
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["valid"]["n"] == 8 and 0 <= summary["valid"]["grade_accuracy"] <= 1
    assert summary["router_valid"]["n"] > 16
    metrics = json.loads((out / "face_metrics.json").read_text())
    assert set(metrics["timings_s"]) >= {"labels", "yolo", "unet", "calibration", "router", "export", "evaluate"}
    assert metrics["labels"]["stats"]["train"]["boxes"] > 0
    assert set(metrics["valid_map_by_imgsz_diagnostic"]) == {"160", "192"}
    grader = json.loads((out / FACE_GRADER).read_text())
    assert len(grader["thresholds"]) == 3 and 0 < grader["conf"] < 1
    card = (out / "MODEL_CARD.md").read_text()
    assert "academic use only" in card and "ACNE04" in card
    assert (build / "face" / "sheets" / "face_train.png").exists()
    assert len(list((build / "face" / "yolo" / "labels").rglob("*.txt"))) == 8


def test_face_models_and_router_on_real_photos(trained, shared):
    out, _, _ = trained
    paths = sorted((shared / "datasets/acne04/valid/images").glob("*.jpg"))[:3]
    photos = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    photos.append(cv2.resize(photos[0], (480, 360)))  # any size and aspect
    models = load_face(out, Backend())
    batch = models.analyze(photos)
    for rgb, a in zip(photos, batch):
        assert a.grade.grade in GRADES + (UNCERTAIN,) and a.grade.best_guess in GRADES
        assert abs(sum(a.grade.probabilities.values()) - 1) < 1e-3
        assert a.segmentation.labels.shape == rgb.shape[:2]
        assert a.measurements.lesion_count == len(a.detections)
    single = models.analyze(photos[:1])[0]
    assert single.measurements.lesion_count == batch[0].measurements.lesion_count
    router = Router.load(out / ROUTER)
    p = router.probabilities(photos)
    assert p.shape == (4, len(ROUTER_CLASSES)) and np.allclose(p.sum(1), 1, atol=1e-4)
    assert set(router.classify(photos)) <= set(ROUTER_CLASSES)
    for d, q in zip(route(photos, router), p):
        assert d.domain in DOMAINS and d.neither == (ROUTER_CLASSES[int(q.argmax())] == "neither")


def test_onnx_exports_load_and_run(trained, shared):
    out, _, _ = trained
    path = next((shared / "datasets/acne04/valid/images").glob("*.jpg"))
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    seg = load_unet(out / FACE_SEGMENTER)
    x = preprocess([rgb, rgb[::-1]], seg.cfg.image_size)
    sess = ort.InferenceSession(str(out / "face_unet.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"images": x.numpy()})[0].shape == (2, 2, seg.cfg.image_size, seg.cfg.image_size)
    det = YoloDetector(out / FACE_DETECTOR)
    xb, _ = det.preprocess([rgb, rgb])
    sess = ort.InferenceSession(str(out / "face_yolo.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {sess.get_inputs()[0].name: xb.numpy()})[0].shape == tuple(det.forward(xb).shape)
    router = Router.load(out / ROUTER)
    xr = preprocess([rgb, rgb, rgb], router.size)
    with torch.no_grad():
        ref = torch.softmax(router.net(xr), 1).numpy()
    sess = ort.InferenceSession(str(out / "router.onnx"), providers=["CPUExecutionProvider"])
    got = torch.softmax(torch.from_numpy(sess.run(None, {"images": xr.numpy()})[0]), 1).numpy()
    assert np.abs(ref - got).max() < 0.02
