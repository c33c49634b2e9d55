"""``python -m inference.bench`` end to end on a few photos: every section, sane figures."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.paths import ROOT, SHARED, WEIGHTS

PHOTOS = SHARED / "datasets" / "scalp_uze" / "valid"


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def check_timed(row: dict, n: int) -> None:
    assert row["n"] == n, row
    for k in ("p50_ms", "p95_ms", "mean_ms", "photos_per_s", "wall_s"):
        assert positive(row[k]), (k, row)
    assert row["p95_ms"] >= row["p50_ms"]


@pytest.mark.slow
@pytest.mark.skipif(not (WEIGHTS / "scalp_yolo.pt").exists(), reason=f"no trained weights in {WEIGHTS}")
def test_bench_small(tmp_path):
    assert PHOTOS.is_dir(), f"the valid split {PHOTOS} is missing"
    out = tmp_path / "bench.json"
    env = {**os.environ, "YOLO_OFFLINE": "1", "WEIGHTS_DIR": str(WEIGHTS)}
    p = subprocess.run(
        [sys.executable, "-m", "inference.bench", "--data", str(PHOTOS.parent.parent), "--n", "4",
         "--concurrency", "1,2", "--repeats", "1", "--device", "cpu", "--warmup", "2", "--json", str(out), "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert p.returncode == 0, p.stderr[-3000:]

    # the printed table: one row per section, the stages, RSS and the targets
    text = p.stdout
    for label in ("(a) baseline", "(b) pipeline, 1 photo", "(b) pipeline, batch 8", "(c) service, concurrency 1",
                  "(c) service, concurrency 2", "stages", "RSS:", "targets:", "torch threads", "device cpu"):
        assert label in text, (label, text)

    r = json.loads(out.read_text())
    assert set(r) >= {"meta", "baseline", "pipeline", "stages", "service", "ratios", "rss", "targets"}
    assert r["meta"]["device"] == "cpu" and r["meta"]["photos"] == 4 and r["meta"]["torch_threads"] >= 1

    check_timed(r["baseline"], 4)
    assert r["baseline"]["imgsz"] > 0 and r["baseline"]["boxes_per_photo"] >= 0
    check_timed(r["pipeline"]["single"], 4)
    check_timed(r["pipeline"]["batched"], 4)

    levels = r["service"]["levels"]
    assert set(levels) == {"1", "2"}
    for c, row in levels.items():
        check_timed(row, 4)
        assert row["errors"] == 0 and row["concurrency"] == int(c)
        assert 1 <= row["mean_batch"] <= int(c)
    for k in ("rss_after_load_mb", "rss_after_load_test_mb", "peak_rss_mb", "load_s"):
        assert positive(r["service"][k]), k

    st = r["stages"]
    assert st["photos"] >= 1
    for k in ("decode", "quality", "detect", "segment", "draw", "encode", "total"):
        assert positive(st["mean_ms"][k]), (k, st)
    assert st["mean_ms"]["grade"] >= 0
    # the stages add up to the total (the rest is bookkeeping between them)
    parts = sum(st["mean_ms"][k] for k in ("decode", "quality", "detect", "segment", "grade", "draw", "encode"))
    assert parts <= st["mean_ms"]["total"] * 1.05 + 1

    for name, ratio in r["ratios"].items():
        assert positive(ratio["latency"]) and positive(ratio["throughput"]), name
    assert all(positive(v) for v in r["rss"].values())
    assert {"p50_c1_le_120ms", "c1_vs_baseline_ge_1.5x", "service_rss_le_1.2GB"} <= set(r["targets"])
    assert all(isinstance(t["met"], bool) for t in r["targets"].values())
