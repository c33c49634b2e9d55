"""The CPU service path: ONNX Runtime, numpy pre/post-processing, and no torch at all."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from inference.models.yolo import nms
from tests.paths import ROOT, SHARED, WEIGHTS


@pytest.mark.parametrize("seed", range(5))
def test_numpy_nms_keeps_what_torchvision_keeps(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 600, (400, 2))
    wh = rng.uniform(5, 120, (400, 2))
    boxes = np.concatenate([xy, xy + wh], 1)
    scores = rng.uniform(0, 1, 400)
    cls = rng.integers(0, 3, 400)
    for iou in (0.3, 0.5, 0.7):
        ref = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        assert np.array_equal(nms(boxes, scores, iou), ref)
        shift = cls[:, None] * (boxes.max() + 1)
        ref = torchvision.ops.batched_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(cls), iou
        ).numpy()
        assert np.array_equal(nms(boxes + shift, scores, iou), ref)


SCRIPT = r"""
import asyncio, json, sys
from pathlib import Path
from inference.service.domains import load_models
from inference.service.flow import Flow
from inference.service.settings import Settings

async def main():
    settings = Settings.from_env(device="cpu", max_batch=1)
    models = load_models(settings)
    out = {}
    async with Flow(settings, lambda s: models) as flow:
        for name in sys.argv[1:]:
            res = await flow.analyze(Path(name).read_bytes())
            out[name] = [res["domain"], res["grade"], res["confidence"], len(res["regions"])]
    return out, models

out, models = asyncio.run(main())
print(json.dumps({"answers": out, "torch": "torch" in sys.modules, "ultralytics": "ultralytics" in sys.modules,
                  "backends": [type(m.detector.model).__name__ for m in models.chains.values()]}))
"""


@pytest.mark.slow
def test_cpu_service_runs_without_torch_and_agrees_with_torch(tmp_path):
    """A fresh process serves scalp and face photos with ONNX Runtime and never imports torch;
    the same photos through the torch networks get the same domain, grade and boxes; the int8
    twins (the CPU default) the same domains and, but for at most one photo, the same grades."""
    if not (WEIGHTS / "scalp_yolo.onnx").is_file():
        pytest.skip("weights/*.onnx are missing")
    photos = sorted((SHARED / "datasets/scalp_uze/valid").glob("*.jpg"))[:3] + sorted(
        (SHARED / "datasets/acne04/valid/images").glob("*.jpg"))[:3]
    if len(photos) < 6:
        pytest.skip("the valid photos are missing")
    runs = {}
    # the float ONNX exports against torch (strict), then the int8 twins the CPU loads by default
    for run, backend, int8 in (("onnx", "onnx", "off"), ("torch", "torch", "off"), ("int8", "auto", "auto")):
        env = {
            **os.environ,
            "INFERENCE_BACKEND": backend,
            "INFERENCE_INT8": int8,
            "OMP_NUM_THREADS": "1",
            "YOLO_OFFLINE": "1",
        }
        p = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, photos)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        runs[run] = json.loads(p.stdout.strip().splitlines()[-1])
    onnx, ref = runs["onnx"], runs["torch"]
    assert onnx["torch"] is False and onnx["ultralytics"] is False
    assert set(onnx["backends"]) == {"OnnxModule"} and "OnnxModule" not in ref["backends"]
    for name, (domain, grade, conf, n) in onnx["answers"].items():
        r_domain, r_grade, r_conf, r_n = ref["answers"][name]
        assert (domain, grade) == (r_domain, r_grade) and abs(conf - r_conf) < 0.01, name
        assert abs(n - r_n) <= 1, name  # a lesion at the operating point's edge may differ
    q = runs["int8"]
    assert q["torch"] is False and q["ultralytics"] is False
    same = 0
    for name, (domain, grade, conf, n) in q["answers"].items():
        r_domain, r_grade, r_conf, r_n = ref["answers"][name]
        assert domain == r_domain and abs(conf - r_conf) < 0.15, name
        assert abs(n - r_n) <= max(2, 0.2 * r_n), name
        same += grade == r_grade
    assert same >= len(q["answers"]) - 1
