"""`python -m inference.train scalp` end to end on a few photos (one short epoch each)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from inference.models.unet import load_unet, preprocess
from inference.models.yolo import YoloDetector
from inference.pipeline.scalp.anatomy import SCALP_CLASSES
from inference.pipeline.scalp.grade import DETECTOR_FEATURES
from inference.train.scalp.grader import FEATURE_SETS

pytestmark = pytest.mark.slow
NUMERIC = ("mean", "std", "weight", "bias")  # a grader's fitted numbers
# the view classifier: two candidate settings, each cross-fitted over two person folds
VIEW_ARGS = ("--view-epochs", "1", "--view-sizes", "64,96", "--view-folds", "2")
VIEW_FILES = ("scalp_view.pt", "scalp_view.onnx", "scalp_view.int8.onnx")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared, project_root):
    out = tmp_path_factory.mktemp("weights")
    build = tmp_path_factory.mktemp("build")
    cmd = [sys.executable, "-m", "inference.train", "scalp", "--limit", "10", "--seg-steps", "2", "--seg-steps2", "2",
           "--epochs", "1", "--imgsz", "160", "--batch", "4", "--workers", "0", "--sheets", "8", "--device", "cpu",
           "--cnn-epochs", "1", "--cnn-folds", "2", *VIEW_ARGS,
           "--shared", str(shared), "--out", str(out), "--build", str(build)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, build, proc.stdout


def test_training_writes_every_artefact(trained):
    out, build, stdout = trained
    for name in ("scalp_yolo.pt", "scalp_yolo.onnx", "scalp_unet.pt", "scalp_unet.onnx", "scalp_cnn.pt",
                 "scalp_cnn.onnx", "scalp_grader.json", "scalp_metrics.json"):
        p = out / name
        assert p.exists(), name
        assert p.stat().st_size < 16e6, name
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["valid"]["n"] == 10 and 0 <= summary["valid"]["accuracy"] <= 1
    metrics = json.loads((out / "scalp_metrics.json").read_text())
    stages = {"unet_round1", "labels", "unet_round2", "yolo", "view", "grade_cnn", "grader", "export", "evaluate"}
    assert set(metrics["timings_s"]) >= stages
    # every stage starts with as many torch threads as the first (Ultralytics' CPU trainer
    # sets one fewer than the cores and left it so for the stages after the detector)
    threads = metrics["torch_threads"]
    assert set(threads) == set(metrics["timings_s"]), (threads, metrics["timings_s"])
    assert len(set(threads.values())) == 1, threads
    # the grader stacks the grade CNN's out-of-fold probabilities (every train photo graded once)
    assert metrics["grade_cnn"]["photos"] == 10 and 0 <= metrics["grade_cnn"]["oof_accuracy"] <= 1
    # by default on every train photo: the feature set chosen by grouped CV among FEATURE_SETS, with
    # the CNN's out-of-fold probabilities and without the detector's scores (it trained on these photos)
    features = json.loads((out / "scalp_grader.json").read_text())["features"]
    chosen = metrics["grader"]["feature_set"]
    assert chosen in FEATURE_SETS and set(metrics["grader"]["feature_sets"]) <= set(FEATURE_SETS)
    assert set(FEATURE_SETS[chosen]) <= set(features) and {"cnn_low", "cnn_middle", "cnn_high"} <= set(features)
    assert not set(DETECTOR_FEATURES) & set(features)
    assert metrics["grader"]["photos"] == "all" and metrics["grader"]["calibration_photos"] == 10
    assert metrics["grader"]["flips"] == ["none"]
    # the grader's cross-validated accuracy per view covers every train photo once
    per_view = metrics["grader"]["cv_accuracy_per_view"]
    assert sum(v["n"] for v in per_view.values()) == 10
    assert set(per_view) <= {"Top-Down", "Back", "Front", "Left", "Right"}
    assert all(0 <= v["accuracy"] <= 1 for v in per_view.values())
    # both grader designs scored on the same photos (the calibration fold), for the record
    check = metrics["grader"]["design_check"]
    assert 0 < check["photos"] < 10 and set(check) == {"photos", "repeats", "calibration", "all"}
    assert all(0 <= check[d]["accuracy"] <= 1 and 0 <= check[d]["macro_f1"] <= 1 for d in ("calibration", "all"))
    # every candidate test-time view was scored out of fold, and the shipped config carries the best one
    views = metrics["grade_cnn"]["oof_by_view"]
    assert len(views) == 5
    best = max(views, key=lambda v: (v["macro_f1"], v["accuracy"]))
    cfg = torch.load(out / "scalp_cnn.pt", weights_only=True)["config"]
    cnn = metrics["grade_cnn"]
    assert (best["macro_f1"], best["accuracy"]) == (cnn["oof_macro_f1"], cnn["oof_accuracy"])
    assert {"center_crop": cfg["center_crop"], "flips": cfg["flips"]} == metrics["grade_cnn"]["test_view"]
    saved = json.loads((build / "scalp" / "grade_cnn_oof.json").read_text())
    assert len(saved["oof"]) == 10 and all(abs(sum(p) - 1) < 1e-4 for p in saved["oof"].values())
    assert (build / "scalp" / "sheets" / "scalp_train.png").exists()
    assert summary["view"]["valid"]["n"] == 10
    assert len(list((build / "scalp" / "masks").glob("*.png"))) >= 15


def test_onnx_exports_load_and_run(trained, shared):
    """The exports of a two-step model run with a dynamic batch (agreement with
    PyTorch is checked on the shipped weights in test_weights.py)."""
    out, _, _ = trained
    rgb = cv2.cvtColor(cv2.imread(str(next((shared / "datasets/scalp_uze/valid").glob("*.jpg")))), cv2.COLOR_BGR2RGB)
    seg = load_unet(out / "scalp_unet.pt")
    x = preprocess([rgb, rgb[::-1]], seg.cfg.image_size)
    sess = ort.InferenceSession(str(out / "scalp_unet.onnx"), providers=["CPUExecutionProvider"])
    size = seg.cfg.image_size
    assert tuple(seg.cfg.classes) == SCALP_CLASSES  # the answer's four classes, in its order
    assert sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0].shape == (2, len(SCALP_CLASSES), size, size)
    det = YoloDetector(out / "scalp_yolo.pt")
    xb, _ = det.preprocess([rgb, rgb])
    sess = ort.InferenceSession(str(out / "scalp_yolo.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {sess.get_inputs()[0].name: xb.numpy()})[0].shape == tuple(det.forward(xb).shape)


def test_grade_cnn_export_matches_torch_and_the_product_loads_it(trained, shared):
    """The grade CNN's float ONNX export (fp16 weights) gives torch's probabilities, the
    export step also made its int8 twin, and the service's loader brings the CNN in because
    the grader uses it."""
    from inference.models.classifier import ImageClassifier
    from inference.models.onnx_runtime import Backend
    from inference.service.domains import load_scalp

    out, _, _ = trained
    assert (out / "scalp_cnn.int8.onnx").is_file()
    rgb = cv2.cvtColor(cv2.imread(str(next((shared / "datasets/scalp_uze/valid").glob("*.jpg")))), cv2.COLOR_BGR2RGB)
    crops = [rgb[100:400, 120:500], rgb]
    torch_p = ImageClassifier.load(out / "scalp_cnn.pt").probabilities(crops)
    onnx_p = ImageClassifier.load(out / "scalp_cnn.pt", Backend("cpu", int8=False)).probabilities(crops)
    np.testing.assert_allclose(onnx_p, torch_p, atol=0.02)  # fp16-stored weights, two runtimes
    np.testing.assert_allclose(onnx_p.sum(1), 1, atol=1e-5)
    models = load_scalp(out, Backend())
    assert models.classifier is not None
    a = models.analyze([rgb])[0]
    assert a.grade.best_guess in ("LOW", "MIDDLE", "HIGH")


def test_the_view_stage_reports_out_of_fold_figures_and_ships_its_networks(trained, shared):
    """Every candidate setting cross-fitted on the train photos, the best by out-of-fold
    accuracy shipped (its size in the config, no test-time flips), each train photo's
    out-of-fold probabilities saved for the grader, valid measured at the end; the ONNX
    export gives torch's probabilities and the int8 twin was made."""
    from inference.models.classifier import ImageClassifier
    from inference.models.onnx_runtime import Backend
    from inference.types import VIEWS

    out, build, _ = trained
    for name in VIEW_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size < 16e6, name
    view = json.loads((out / "scalp_metrics.json").read_text())["view"]
    assert {"photos", "folds", "chosen", "settings", "oof_accuracy", "oof_macro_f1", "oof_recall",
            "oof_confusion", "valid"} <= set(view)
    assert view["photos"] == 10 and view["folds"] == 2
    assert [(s["size"], s["epochs"]) for s in view["settings"]] == [(64, 1), (96, 1)]
    best = max(view["settings"], key=lambda s: (s["oof_accuracy"], s["oof_macro_f1"], -s["size"]))
    assert view["chosen"] == {"size": best["size"], "epochs": best["epochs"]}
    assert view["oof_accuracy"] == best["oof_accuracy"] and set(view["oof_recall"]) <= set(VIEWS)
    cm = np.array(view["oof_confusion"]["matrix"])
    assert cm.shape == (5, 5) and cm.sum() == 10 and view["oof_confusion"]["labels"] == list(VIEWS)
    assert view["valid"]["n"] == 10 and 0 <= view["valid"]["accuracy"] <= 1
    assert view["valid"]["running"] == "scalp_view.int8.onnx" and view["valid"]["ms_per_photo"] > 0
    saved = json.loads((build / "scalp" / "view_oof.json").read_text())
    assert saved["classes"] == list(VIEWS) and len(saved["oof"]) == 10
    assert all(len(p) == 5 and abs(sum(p) - 1) < 1e-4 for p in saved["oof"].values())
    torch_clf = ImageClassifier.load(out / "scalp_view.pt")
    assert torch_clf.classes == VIEWS and torch_clf.size == best["size"] and torch_clf.flips == ()
    rgb = cv2.cvtColor(cv2.imread(str(next((shared / "datasets/scalp_uze/valid").glob("*.jpg")))), cv2.COLOR_BGR2RGB)
    photos = [rgb, np.ascontiguousarray(rgb[::-1, :200])]
    onnx_p = ImageClassifier.load(out / "scalp_view.pt", Backend("cpu", int8=False)).probabilities(photos)
    np.testing.assert_allclose(onnx_p, torch_clf.probabilities(photos), atol=0.02)  # fp16-stored weights
    int8_p = ImageClassifier.load(out / "scalp_view.pt", Backend("cpu")).probabilities(photos)
    np.testing.assert_allclose(int8_p.sum(1), 1, atol=1e-5)


def test_the_view_stage_alone_replaces_only_its_key_of_the_metrics(trained, shared, project_root, tmp_path):
    """``--only view --reuse-view``: no other stage runs, the reused network is measured on
    valid again, and scalp_metrics.json keeps every other key; the full run's log is left alone."""
    import shutil

    out0, build0, _ = trained
    out, build = tmp_path / "weights", tmp_path / "build"
    shutil.copytree(out0, out)
    shutil.copytree(build0, build, symlinks=True)
    before = json.loads((out / "scalp_metrics.json").read_text())
    run_log = (build / "scalp" / "run.json").read_bytes()
    weights = (out / "scalp_view.pt").read_bytes()
    (out / "scalp_view.int8.onnx").unlink()
    cmd = [sys.executable, "-m", "inference.train", "scalp", "--only", "view", "--reuse-view", "--limit", "10",
           "--device", "cpu", "--shared", str(shared), "--out", str(out), "--build", str(build)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads((out / "scalp_metrics.json").read_text())
    assert {k: v for k, v in after.items() if k != "view"} == {k: v for k, v in before.items() if k != "view"}
    assert after["view"]["reused"].endswith("view_oof.json") and after["view"]["valid"]["n"] == 10
    assert after["view"]["valid"]["accuracy"] == before["view"]["valid"]["accuracy"]
    assert set(after["view"]["stage_seconds"]) == {"view", "view_int8", "view_valid"}
    assert (out / "scalp_view.pt").read_bytes() == weights and (out / "scalp_view.int8.onnx").is_file()
    assert (build / "scalp" / "run.json").read_bytes() == run_log and (build / "scalp" / "view_run.json").is_file()
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["view"]["valid"]["n"] == 10
    assert cmd[6] == "--reuse-view"
    bad = subprocess.run(cmd[:6] + ["--view-epochs", "0"] + cmd[7:], cwd=project_root, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and "--only view" in bad.stderr


def test_a_rerun_reuses_the_grade_cnn_and_its_out_of_fold_probabilities(trained, shared, project_root, tmp_path):
    """``--reuse-grade-cnn`` refits the grader on the saved out-of-fold probabilities
    without training the CNN again (the shipped network is left as it was); with
    ``--grader-photos calibration`` on the fold the detector did not train on, with its scores."""
    import shutil

    out0, build0, _ = trained
    out, build = tmp_path / "weights", tmp_path / "build"
    shutil.copytree(out0, out)
    shutil.copytree(build0, build, symlinks=True)
    shutil.copy(out0 / "scalp_yolo.pt", tmp_path / "det.pt")
    shutil.copy(out0 / "scalp_unet.pt", tmp_path / "seg.pt")
    before = (out / "scalp_cnn.pt").read_bytes()
    (out / "scalp_cnn.onnx").unlink()  # as after a network trained elsewhere (inference.train.gpu grade-cnn)
    cmd = [sys.executable, "-m", "inference.train", "scalp", "--limit", "10", "--reuse-round1", "--reuse-grade-cnn",
           "--reuse-view", "--detector", str(tmp_path / "det.pt"), "--segmenter", str(tmp_path / "seg.pt"),
           "--imgsz", "160", "--workers", "0", "--sheets", "8", "--device", "cpu", "--cnn-epochs", "1",
           "--cnn-folds", "2", "--grader-photos", "calibration", "--shared", str(shared), "--out", str(out),
           "--build", str(build)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "scalp_metrics.json").read_text())
    assert metrics["grade_cnn"]["reused"].endswith("grade_cnn_oof.json")
    assert metrics["view"]["reused"].endswith("view_oof.json")
    assert metrics["grader"]["photos"] == "calibration" and 0 < metrics["grader"]["calibration_photos"] < 10
    assert (out / "scalp_cnn.pt").read_bytes() == before
    from inference.models.classifier import ImageClassifier
    from inference.models.onnx_runtime import Backend

    rgb = cv2.cvtColor(cv2.imread(str(next((shared / "datasets/scalp_uze/valid").glob("*.jpg")))), cv2.COLOR_BGR2RGB)
    torch_p = ImageClassifier.load(out / "scalp_cnn.pt").probabilities([rgb])
    # the float export itself, not its int8 twin
    onnx_p = ImageClassifier.load(out / "scalp_cnn.pt", Backend("cpu", int8=False)).probabilities([rgb])
    np.testing.assert_allclose(onnx_p, torch_p, atol=0.02)  # the missing ONNX was exported from the reused network
    assert json.loads((out / "scalp_grader.json").read_text())["features"] == [
        "det_low", "det_middle", "det_high", "det_score", "exposed_ratio", "exposed_logit", "region_fraction",
        "cnn_low", "cnn_middle", "cnn_high"]


@pytest.fixture(scope="module")
def cross_fitted(trained, shared, project_root, tmp_path_factory):
    """``--detector-folds 2``: the shipped detector and two fold detectors trained here (one short epoch each)."""
    import shutil

    out0, build0, _ = trained
    tmp = tmp_path_factory.mktemp("cross_fit")
    out, build = tmp / "weights", tmp / "build"
    shutil.copytree(out0, out)
    shutil.copytree(build0, build, symlinks=True)
    shutil.copy(out0 / "scalp_unet.pt", tmp / "seg.pt")
    cmd = [sys.executable, "-m", "inference.train", "scalp", "--limit", "10", "--reuse-round1", "--reuse-grade-cnn",
           "--reuse-view", "--segmenter", str(tmp / "seg.pt"), "--detector-folds", "2", "--epochs", "1",
           "--imgsz", "160", "--batch", "4", "--workers", "0", "--sheets", "8", "--device", "cpu", "--cnn-epochs", "1",
           "--cnn-folds", "2", "--shared", str(shared), "--out", str(out), "--build", str(build)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, build, cmd


def test_cross_fitted_detectors_let_the_grader_learn_from_every_train_photo(cross_fitted, shared):
    from inference.train.scalp import detector as D
    from inference.train.scalp import splits as S
    from inference.train.segdata import read_scalp_index

    out, build, _ = cross_fitted
    metrics = json.loads((out / "scalp_metrics.json").read_text())
    assert metrics["grader"]["calibration_photos"] == 10 and metrics["grader"]["detector_cross_fitted"] is True
    assert metrics["grader"]["features"][:4] == ["det_low", "det_middle", "det_high", "det_score"]  # out of fold: used
    train = [r for r in read_scalp_index(shared / "datasets/scalp_uze") if r["split"] == "train"][:10]
    fold_of = S.detector_folds(train, 2, 0)
    # the grade CNN holds out the same people (one fold function for both)
    from inference.train.common import group_folds

    assert list(fold_of.values()) == group_folds([S.group_of(r["filename"]) for r in train], 2, 0).tolist()
    assert sorted(set(fold_of.values())) == [0, 1]
    held = []
    for k in range(2):
        meta = torch.load(build / "scalp" / "detectors" / D.fold_detector_name(k), weights_only=False)["project_meta"]
        assert meta["fold"] == k and meta["folds"] == 2
        assert set(meta["held_out"]) == {Path(f).stem for f, j in fold_of.items() if j == k}
        held += meta["held_out"]
    assert sorted(held) == sorted(Path(f).stem for f in fold_of)  # every train photo held out exactly once
    assert torch.load(out / "scalp_yolo.pt", weights_only=False)["project_meta"]["fold"] == "all"
    # the shipped detector's YOLO set trains on every train photo
    assert len(list((build / "scalp" / "yolo" / "images" / "train").iterdir())) == 10


def test_fold_detectors_from_elsewhere_are_checked_and_give_the_same_grader(cross_fitted, project_root, tmp_path):
    """The GPU hand-off (``--fold-detectors DIR --detector FILE``) reproduces the grader, and a
    fold detector trained for another fold is refused."""
    import shutil

    from inference.train.scalp import detector as D

    out, build, cmd = cross_fitted
    dets = tmp_path / "dets"
    shutil.copytree(build / "scalp" / "detectors", dets)
    shutil.copy(out / "scalp_yolo.pt", tmp_path / "det.pt")
    out2, build2 = tmp_path / "weights", tmp_path / "build"
    shutil.copytree(out, out2)
    shutil.copytree(build, build2, symlinks=True)
    moved = {str(out): str(out2), str(build): str(build2)}
    cmd2 = [moved.get(c, c) for c in cmd] + ["--fold-detectors", str(dets), "--detector", str(tmp_path / "det.pt")]
    proc = subprocess.run(cmd2, cwd=project_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    g1, g2 = (json.loads((o / "scalp_grader.json").read_text()) for o in (out, out2))
    assert {k: v for k, v in g1.items() if k not in NUMERIC} == {k: v for k, v in g2.items() if k not in NUMERIC}
    for k in NUMERIC:  # the same detectors' features, up to float rounding in the CPU kernels (~1e-6)
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-4, atol=1e-4)
    held0 = set(torch.load(dets / D.fold_detector_name(0), weights_only=False)["project_meta"]["held_out"])
    D.check_fold_detector(dets / D.fold_detector_name(0), 0, held0)
    with pytest.raises(ValueError, match="fold"):
        D.check_fold_detector(dets / D.fold_detector_name(1), 0, held0)
    with pytest.raises(ValueError):
        D.check_fold_detector(dets / D.fold_detector_name(0), 0, held0 - {sorted(held0)[0]})
