"""The benchmark's parts without weights: figures, targets, the printed table, the photos, and
section (b) on the stand-in chain."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from inference.bench.photos import load_photos, photo_files
from inference.bench.pipeline import BATCH, StageTimer, bench_pipeline, stage_row
from inference.bench.report import STAGES, check_targets, percentile, ratios, report, summary
from inference.pipeline.common import draw as draw_module
from inference.service.settings import Settings
from tests.fakes.inference import StandInScalp, stand_in_models


def row(p50: float, per_s: float, n: int = 4, **extra) -> dict:
    return {"n": n, "p50_ms": p50, "p95_ms": p50 * 1.2, "mean_ms": p50, "photos_per_s": per_s, "wall_s": 1.0, **extra}


def level(c: int, p50: float, per_s: float) -> dict:
    return row(p50, per_s, concurrency=c, errors=0, error_statuses=[], mean_batch=1.0, worker_cpu_s=[1.0],
               mean_queue_ms=0.5, graded=4, server_ms={"decode": 1.0, "total": 50.0})


def result(device: str = "cpu", baseline: bool = True, levels: dict | None = None) -> dict:
    """A run's result dict as ``python -m inference.bench`` builds it, with made-up figures."""
    base = row(120.0, 8.0, boxes_per_photo=1.5, imgsz=640, conf=0.25) if baseline else None
    levels = levels or {"1": level(1, 60.0, 16.0), "8": level(8, 200.0, 30.0)}
    res = {
        "meta": {"device": device, "device_name": "test CPU", "torch": "2.x", "torch_threads": 2, "cpus": 2,
                 "loadavg_start": [0.1, 0.1, 0.1], "loadavg_end": [0.2, 0.2, 0.2], "other_processes_cpu_share": 0.05,
                 "photos": 4, "distinct_files": 4, "photo_source": "here", "repeats": 1, "warmup": 1,
                 "flips": ["none", "h"], "service_settings": {"workers": 1}},
        "baseline": base,
        "pipeline": {"single": row(70.0, 14.0, graded=4), "batched": row(250.0, 16.0, batch=BATCH)},
        "service": {"levels": levels, "peak_rss_mb": 400.0},
        "service_more_workers": {"2": {"levels": {"1": level(1, 55.0, 18.0)}, "rss_after_load_mb": 500.0,
                                       "peak_rss_mb": 700.0}},
        "stages": {"photos": 4, "mean_ms": {k: 1.0 for k in (*STAGES, "other", "total", "detect.forward")},
                   "p50_ms": {k: 1.0 for k in (*STAGES, "other", "total", "detect.forward")}},
        "rss": {"service_after_load_mb": 200.0, "service_after_load_test_mb": 350.0, "service_peak_mb": 400.0,
                "process_peak_mb": 1100.0},
    }
    res["ratios"] = {
        "pipeline_single": ratios(base, res["pipeline"]["single"]),
        "pipeline_batched": ratios(base, res["pipeline"]["batched"]),
        **{f"service_c{c}": ratios(base, r) for c, r in levels.items()},
        "workers2_c1": ratios(levels["1"], res["service_more_workers"]["2"]["levels"]["1"]),
    }
    res["targets"] = check_targets(res)
    return res


def test_percentile_interpolates_as_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 64):
        values = rng.random(n).tolist()
        for q in (0.0, 0.5, 0.95, 1.0):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))
    assert math.isnan(percentile([], 0.5))


def test_summary_and_ratios():
    s = summary([10.0, 20.0, 30.0], 6, 2.0, batch=2)
    assert s == {"n": 6, "p50_ms": 20.0, "p95_ms": 29.0, "mean_ms": 20.0, "photos_per_s": 3.0, "wall_s": 2.0,
                 "batch": 2}
    assert math.isnan(summary([], 0, 0.0)["photos_per_s"])
    assert ratios(None, s) == {"latency": None, "throughput": None}
    assert ratios({"p50_ms": 40.0, "photos_per_s": 1.5}, s) == {"latency": 2.0, "throughput": 2.0}


def test_targets_apply_by_device():
    cpu = result("cpu")["targets"]
    assert set(cpu) == {"p50_c1_le_120ms", "c1_vs_baseline_ge_1.5x", "service_rss_le_1.2GB"}
    assert cpu["p50_c1_le_120ms"] == {"value": 60.0, "target": 120.0, "met": True, "applies": True}
    assert cpu["c1_vs_baseline_ge_1.5x"]["value"] == 2.0 and cpu["c1_vs_baseline_ge_1.5x"]["met"]
    assert cpu["service_rss_le_1.2GB"] == {"value": 400.0, "target": 1200.0, "met": True, "applies": True}

    gpu = result("cuda", baseline=False, levels={"1": level(1, 10.0, 100.0), "64": level(64, 60.0, 900.0)})["targets"]
    assert "c1_vs_baseline_ge_1.5x" not in gpu  # no baseline
    assert not gpu["p50_c1_le_120ms"]["applies"] and not gpu["service_rss_le_1.2GB"]["applies"]
    assert gpu["c64_ge_1000_photos_s"] == {"value": 900.0, "target": 1000.0, "met": False, "applies": True}
    assert gpu["c64_ge_5x_c1"] == {"value": 9.0, "target": 5.0, "met": True, "applies": True}


def test_report_table():
    text = report(result("cpu"))
    lines = text.splitlines()
    assert lines[0].startswith("inference.bench: device cpu (test CPU), torch 2.x, 2 torch threads, 2 CPUs")
    assert "5.0% of the CPUs" in lines[0] and "flips none,h" in lines[1]
    base = next(x for x in lines if x.startswith("(a) baseline (seed style)"))
    assert base.split()[4:8] == ["4", "120.0", "144.0", "8.0"] and "1.5 boxes/photo, imgsz 640" in base
    single = next(x for x in lines if x.startswith("(b) pipeline, 1 photo"))
    assert single.split()[4:10] == ["4", "70.0", "84.0", "14.0", "1.71", "1.75"]
    assert any(x.startswith(f"(b) pipeline, batch {BATCH}") and "latency per batch" in x for x in lines)
    assert any(x.startswith("(c) service, concurrency 8") for x in lines)
    more = next(x for x in lines if x.startswith("(c) 2 workers, concurrency 1"))
    assert "against 1 worker(s)" in more and "1.09" in more  # 60 / 55 ms
    assert "RSS with 2 workers: after load 500.0 MB, peak 700.0 MB" in text
    assert "  concurrency   1: decode 1.0  total 50.0" in text
    assert "(b) stages, ms per graded photo (4 photos" in text and "  of which: detect.forward 1.0" in text
    assert "RSS: service after load 200.0 MB, after the load test 350.0 MB, peak while serving 400.0 MB" in text
    assert "  p50_c1_le_120ms                  60.00 (target 120.00): MET" in lines

    gpu = report(result("cuda", baseline=False, levels={"1": level(1, 10.0, 100.0), "64": level(64, 60.0, 900.0)}))
    assert f"{'(a) baseline (seed style)':30} skipped" in gpu
    assert "c64_ge_1000_photos_s" in gpu and ": NOT MET" in gpu and "n/a on cuda (met)" in gpu


def test_photo_files_interleave_the_domains(tmp_path):
    scalp = tmp_path / "scalp_uze" / "valid"
    face = tmp_path / "acne04" / "valid" / "images"
    for d, names in ((scalp, ("s1.jpg", "s2.JPG", "s3.png", "notes.txt")), (face, ("f1.jpg",))):
        d.mkdir(parents=True)
        for n in names:
            (d / n).write_bytes(n.encode())
    assert [p.name for p in photo_files(tmp_path, with_face=False)] == ["s1.jpg", "s2.JPG", "s3.png"]
    assert [p.name for p in photo_files(tmp_path, with_face=True)] == ["s1.jpg", "f1.jpg", "s2.JPG", "s3.png"]
    assert [p.name for p in photo_files(face, with_face=True)] == ["f1.jpg"]  # a folder of photos itself
    photos = load_photos(photo_files(tmp_path, with_face=True), 6)
    assert [p.name for p in photos] == ["s1.jpg", "f1.jpg", "s2.JPG", "s3.png", "s1.jpg", "f1.jpg"]
    assert photos[1].data == b"f1.jpg"
    with pytest.raises(SystemExit):
        photo_files(tmp_path / "acne04", with_face=True)


def test_stage_row_parts_add_up():
    t = {"decode": 2.0, "quality": 1.0, "predict": 50.0, "draw": 8.0, "total": 70.0}
    r = stage_row(t, {"route": 3.0, "detect": 20.0, "segment": 15.0, "segment.forward": 12.0, "draw": 5.0})
    assert (r["grade"], r["encode"], r["segment"]) == (12.0, 3.0, 15.0)
    assert r["other"] == pytest.approx(70.0 - sum(r[k] for k in STAGES))
    # the face chain: no segment step of its own, its U-Net forward counts
    assert stage_row(t, {"segment.forward": 9.0})["segment"] == 9.0


class Net:
    def probabilities(self, images):
        return [0] * len(images)


class Detector:
    def detect(self, images):
        return self.forward(images)

    def forward(self, x):
        return [[] for _ in x]


def test_stage_timer_restores_what_it_wrapped():
    class Segmenter:
        def __init__(self):
            self.unet = Net()

        def segment(self, images):
            return self.unet.probabilities(images)

    class Chain:  # scalp-like: detector and segmenter
        detector, segmenter = Detector(), Segmenter()

    class FaceLike:
        detector, unet = Detector(), Net()

    class Models:
        router = Net()
        chains = {"scalp": Chain(), "face": FaceLike()}

    models = Models()
    annotate, encode_jpeg = draw_module.annotate, draw_module.encode_jpeg
    timer = StageTimer()
    with timer.installed(models):
        models.router.probabilities([1, 2])
        models.chains["scalp"].detector.detect([1])
        models.chains["scalp"].segmenter.segment([1])
        models.chains["face"].unet.probabilities([1])
        assert draw_module.annotate is not annotate
    assert set(timer.ms) == {"route", "detect", "detect.forward", "segment", "segment.forward"}
    assert draw_module.annotate is annotate and draw_module.encode_jpeg is encode_jpeg
    for obj in (models.router, models.chains["scalp"].detector, models.chains["scalp"].segmenter,
                models.chains["scalp"].segmenter.unet, models.chains["face"].unet):
        assert not {"probabilities", "detect", "forward", "segment"} & set(vars(obj)), obj  # no wrapper left


def noise_jpeg(seed: int) -> bytes:
    """Sharp, mid-grey, big enough: passes the quality gate."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(40, 220, (320, 400, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_pipeline_section_on_the_stand_in(tmp_path):
    """(b): one photo a forward pass through the flow, then whole batches, then the stages."""
    from inference.bench.photos import Photo

    chain = StandInScalp("MIDDLE")
    photos = [Photo(f"{i}.jpg", noise_jpeg(i)) for i in range(BATCH + 2)]
    out = bench_pipeline(stand_in_models(None, chain), Settings(weights=tmp_path), photos, repeats=1, warmup=1)
    single, batched = out["pipeline"]["single"], out["pipeline"]["batched"]
    assert single["n"] == len(photos) and single["graded"] == len(photos)
    assert batched["n"] == len(photos) and batched["batch"] == BATCH
    # warm-up 1 + 10 single, then the batches (warm-up 8, then 8 + 2), then warm-up 1 + 10 stages
    assert chain.calls == [1] * 11 + [BATCH, BATCH, 2] + [1] * 11
    st = out["stages"]
    assert st["photos"] == len(photos)
    assert st["mean_ms"]["draw"] > 0 and st["mean_ms"]["encode.jpeg"] > 0
    assert st["mean_ms"]["detect"] == 0.0  # the stand-in has no detector to time
