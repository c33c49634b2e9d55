"""The GPU training path (inference.train.gpu): packing the label sets, the budgeted YOLO and U-Net runs.

Runs on the CPU with a handful of photos; the real run is scripts/device_train.sh on a lent GPU.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inference.datasets import person_number
from inference.models.unet import UNetConfig, load_unet
from inference.models.yolo import YoloDetector
from inference.train import gpu
from inference.train.segdata import SEG_CLASSES
from inference.train.unet_trainer import UNetTrainConfig, train_unet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packed(tmp_path_factory, shared, project_root):
    """``pack`` on 6 ACNE04 photos and a stand-in scalp YOLO set (symlinks, as inference.train scalp builds it)."""
    build = tmp_path_factory.mktemp("build")
    yolo = build / "scalp" / "yolo"
    by_person = {}
    for p in sorted((shared / "datasets/scalp_uze/train").glob("*.jpg")):
        by_person.setdefault(person_number(p.name), p)
    photos = list(by_person.values())[:5]  # five people, so two person folds both hold photos
    for i, p in enumerate(photos):
        part = "val" if i >= 3 else "train"
        (yolo / "images" / part).mkdir(parents=True, exist_ok=True)
        (yolo / "labels" / part).mkdir(parents=True, exist_ok=True)
        (yolo / "images" / part / p.name).symlink_to(p)
        (yolo / "labels" / part / (p.stem + ".txt")).write_text(f"{i % 3} 0.5 0.5 0.6 0.5\n")
    (yolo / "data.yaml").write_text("path: x\ntrain: images/train\nval: images/val\n"
                                    "names:\n  0: LOW\n  1: MIDDLE\n  2: HIGH\n")
    out = tmp_path_factory.mktemp("devdata")
    cmd = [sys.executable, "-m", "inference.train.gpu", "pack", "--shared", str(shared), "--build", str(build),
           "--out", str(out), "--limit", "6", "--folds", "2"]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout.strip().splitlines()[-1])


def test_pack_writes_webp_copies_labels_and_starts(packed, shared):
    out, report = packed
    assert report["face"]["train"] + report["face"]["val"] == 6
    assert report["scalp"] == {"train": 3, "val": 2, "folds": 2}
    for s in ("face", "scalp"):
        for part in ("train", "val"):
            imgs = sorted((out / s / "images" / part).glob("*.webp"))
            labs = sorted((out / s / "labels" / part).glob("*.txt"))
            assert [p.stem for p in imgs] == [p.stem for p in labs]
            for p in imgs:
                assert cv2.imread(str(p)) is not None
    # the WebP copy is close to the original photo (about 39 dB)
    one = next((out / "face" / "images" / "train").glob("*.webp"))
    orig = cv2.imread(str(shared / "datasets/acne04/train/images" / (one.stem + ".jpg")))
    assert cv2.PSNR(orig, cv2.imread(str(one))) > 33
    assert json.loads((out / "scalp" / "names.json").read_text()) == ["LOW", "MIDDLE", "HIGH"]
    enc = torch.load(out / "pretrained" / gpu.ENCODER_START, weights_only=True)
    assert enc and all(v.dtype == torch.float16 for v in enc.values() if v.is_floating_point())
    assert not any(k.startswith("classifier.") for k in enc)
    assert (out / "pretrained" / gpu.YOLO_START).stat().st_size > 1e6
    assert (out / "site" / "pylopdf_fonts_ko" / "NotoSansKR-Regular.otf").stat().st_size > 1e6


def test_yolo_and_unet_runs_write_loadable_checkpoints(packed, tmp_path, project_root):
    out, _ = packed
    yolo = [sys.executable, "-m", "inference.train.gpu", "yolo", "--data", str(out / "scalp"), "--name", "scalp_yolo",
            "--imgsz", "64", "--epochs", "1", "--batch", "2", "--workers", "0", "--device", "cpu",
            "--out", str(tmp_path), "--runs", str(tmp_path / "runs")]
    proc = subprocess.run(yolo, cwd=project_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rep["calibration_fold"]["epochs"] == 1 and "metrics/mAP50(B)" in rep["calibration_fold"]["last"]
    det = YoloDetector(tmp_path / "scalp_yolo.pt")
    assert det.names == ("LOW", "MIDDLE", "HIGH")
    unet = [sys.executable, "-m", "inference.train.gpu", "unet", "--data", str(out / "face"), "--steps", "2",
            "--batch", "2", "--seg-size", "64", "--device", "cpu", "--out", str(tmp_path)]
    proc = subprocess.run(unet, cwd=project_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    b = load_unet(tmp_path / "face_unet.pt")
    assert tuple(b.cfg.classes) == ("background", "lesion")
    assert b.net(torch.zeros(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_unet_time_budget_ends_the_cosine_schedule_early():
    """With ``max_seconds`` the run stops when the clock runs out, at the schedule's end."""
    rng = np.random.default_rng(0)

    class Sample:
        def load(self):
            time.sleep(0.02)
            return rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), rng.integers(0, 3, (64, 64), dtype=np.uint8)

    lines = []
    t0 = time.perf_counter()
    train_unet(UNetConfig(SEG_CLASSES, image_size=64), [([Sample() for _ in range(50)], 1.0)],
               UNetTrainConfig(size=32, batch=2, steps=100_000, max_seconds=1.5, log_every=10_000), log=lines.append)
    assert time.perf_counter() - t0 < 20
    assert any("time budget" in line for line in lines)


def test_pack_writes_each_scalp_photos_person_fold(packed, shared):
    from inference.train.scalp.splits import detector_folds
    from inference.train.segdata import read_scalp_index

    out, report = packed
    folds = json.loads((out / "scalp" / "folds.json").read_text())
    assert sorted(folds) == sorted(p.stem for p in (out / "scalp" / "images").glob("*/*.webp"))
    train = [r for r in read_scalp_index(shared / "datasets/scalp_uze") if r["split"] == "train"]
    expected = {Path(f).stem: k for f, k in detector_folds(train, 2, 0).items()}  # what `inference.train scalp` uses
    assert folds == {s: expected[s] for s in folds}
    assert report["scalp"]["folds"] == 2 == len(set(folds.values()))


def test_yolo_fold_runs_hold_out_their_fold_and_record_it(packed, tmp_path, project_root):
    out, _ = packed
    folds = json.loads((out / "scalp" / "folds.json").read_text())
    base = [sys.executable, "-m", "inference.train.gpu", "yolo", "--data", str(out / "scalp"), "--imgsz", "64",
            "--epochs", "1", "--batch", "2", "--workers", "0", "--device", "cpu", "--out", str(tmp_path),
            "--runs", str(tmp_path / "runs"), "--checkpoint", "last"]
    for fold, name, extra in ((0, "f0", []), (-1, "all", ["--no-val"])):
        proc = subprocess.run(base + ["--fold", str(fold), "--name", name] + extra, cwd=project_root,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        meta = torch.load(tmp_path / f"{name}.pt", weights_only=False)["project_meta"]
        view = tmp_path / "runs" / name / "data"
        trained_on = {p.stem for p in (view / "images" / "train").iterdir()}
        if fold == 0:
            held = {s for s, k in folds.items() if k == 0}
            assert meta["fold"] == 0 and set(meta["held_out"]) == held and held
            assert trained_on == set(folds) - held
            assert {p.stem for p in (view / "images" / "val").iterdir()} == held
            assert {p.stem for p in (view / "labels" / "train").iterdir()} == trained_on
        else:
            assert meta["fold"] == "all" and meta["held_out"] == [] and trained_on == set(folds)
        assert meta["folds"] == 2
        assert YoloDetector(tmp_path / f"{name}.pt").names == ("LOW", "MIDDLE", "HIGH")


def test_grade_cnn_on_packed_crops_writes_what_the_scalp_training_reuses(packed, shared, weights, tmp_path,
                                                                         project_root):
    from inference.models.classifier import ImageClassifier

    out, _ = packed
    base = [sys.executable, "-m", "inference.train.gpu"]
    proc = subprocess.run(base + ["pack-crops", "--shared", str(shared), "--weights", str(weights),
                                  "--out", str(tmp_path), "--limit", "12"],
                          cwd=project_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = json.loads((tmp_path / "scalp_crops" / "index.json").read_text())
    assert len(index) == 12 and {e["grade"] for e in index} <= {"LOW", "MIDDLE", "HIGH"}
    crop = cv2.imread(str(tmp_path / "scalp_crops" / "crops" / index[0]["crop"]))
    assert crop.shape == (gpu.CROPS_PACK, gpu.CROPS_PACK, 3)
    proc = subprocess.run(base + ["grade-cnn", "--data", str(tmp_path / "scalp_crops"),
                                  "--encoder", str(out / "pretrained" / gpu.ENCODER_START), "--size", "64",
                                  "--epochs", "1", "--folds", "2", "--device", "cpu", "--out", str(tmp_path / "cnn"),
                                  "--target", "norwood"],
                          cwd=project_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "cnn" / "scalp_cnn_oof.json").read_text())
    assert sorted(saved["oof"]) == sorted(e["file"] for e in index)  # the format of build/scalp/grade_cnn_oof.json
    assert all(abs(sum(p) - 1) < 1e-4 for p in saved["oof"].values())
    assert saved["report"]["oof_macro_f1"] == report["oof_macro_f1"] and report["size"] == 64
    clf = ImageClassifier.load(tmp_path / "cnn" / "scalp_cnn.pt")
    assert clf.size == 64 and {"center_crop": clf.center_crop, "flips": list(clf.flips)} == report["test_view"]
    assert report["target"] == "norwood" and clf.cfg["outputs"] == 6 and clf.classes == ("LOW", "MIDDLE", "HIGH")
    assert {e["norwood"] for e in index} <= {"LEVEL_2", "LEVEL_3", "LEVEL_4", "LEVEL_5", "LEVEL_6", "LEVEL_7"}
    assert clf.probabilities([np.zeros((90, 90, 3), np.uint8)]).shape == (1, 3)
