"""`python -m inference.evaluate face` on a folder laid out like ACNE04 (symlinks into ../shared),
with a tiny model trained first into a temporary weights folder (the shipped weights may not exist)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.inference.evaluate.cli import run_eval

pytestmark = pytest.mark.slow

KEYS = {"n", "map50", "map50_95", "precision", "recall", "fusion_precision", "fusion_recall", "grade_accuracy",
        "routing_accuracy"}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory, shared, project_root):
    out = tmp_path_factory.mktemp("weights")
    build = tmp_path_factory.mktemp("build")
    cmd = [sys.executable, "-m", "inference.train", "face", "--limit", "6", "--epochs", "1", "--imgsz", "160",
           "--batch", "4", "--workers", "0", "--seg-steps", "2", "--seg-size", "128", "--seg-infer-size", "256",
           "--router-copies", "0", "--sheets", "4", "--device", "cpu", "--shared", str(shared), "--out", str(out),
           "--build", str(build)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, shared):
    """Two photos of each ACNE04 level in each split, linked (not copied) from ../shared."""
    src = shared / "datasets/acne04"
    root = tmp_path_factory.mktemp("acne_small")
    rows = list(csv.DictReader(open(src / "image_severity.csv")))
    keep = []
    for split in ("train", "valid"):
        for level in ("levle0", "levle1", "levle2", "levle3"):
            keep += [r for r in rows if r["split"] == split and r["acne04_level"] == level][:2]
    for r in keep:
        stem = r["filename"].rsplit(".", 1)[0]
        for sub, name in (("images", r["filename"]), ("labels", stem + ".txt")):
            d = root / r["split"] / sub
            d.mkdir(parents=True, exist_ok=True)
            if (src / r["split"] / sub / name).exists():
                (d / name).symlink_to(src / r["split"] / sub / name)
    with open(root / "image_severity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(keep)
    return root


def test_evaluate_prints_one_json_line_over_every_split(small_set, tiny_weights, project_root):
    lines = run_eval("face", project_root, "--data", str(small_set), "--weights", str(tiny_weights))
    last = json.loads(lines[-1])
    assert set(last) == KEYS
    assert last["n"] == 16
    for k in KEYS - {"n"}:
        assert last[k] is None or 0 <= last[k] <= 1, k
    assert last["routing_accuracy"] is not None  # the tiny router was trained too
    assert any(line.startswith("[train]") for line in lines) and any(line.startswith("[valid]") for line in lines)
    assert any("confusion" in line for line in lines)
    assert sum("accuracy of the most confident: 50% graded" in line for line in lines) == 2


def test_evaluate_one_split(small_set, tiny_weights, project_root):
    lines = run_eval("face", project_root, "--data", str(small_set), "--weights", str(tiny_weights), "--split", "valid")
    last = json.loads(lines[-1])
    assert last["n"] == 8 and set(last) == KEYS


def test_evaluate_refuses_a_folder_without_labels(tmp_path, tiny_weights, project_root):
    cmd = [sys.executable, "-m", "inference.evaluate", "face", "--data", str(tmp_path), "--weights", str(tiny_weights)]
    proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
