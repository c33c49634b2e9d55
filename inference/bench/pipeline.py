"""(b) The pipeline in process: the service's own steps without HTTP, on models loaded once.

* one photo at a time: ``Flow.analyze`` with ``max_batch`` 1 (decode and the quality gate
  on the decode/draw threads, route and the domain's chain on the model thread, then draw
  and encode), one photo after the other;
* batched: the service's steps for ``BATCH`` photos in this thread: ``decode_and_check``
  each, one ``predict`` for all, then ``flow.finish`` (final verdict, draw, encode) each;
* stages: one photo at a time through the same ``Flow`` again, with the functions each
  stage calls wrapped in timers (``StageTimer``) and restored afterwards, so the timed
  runs above are untouched.

The three share one event loop and one ``Models``.
"""
from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from inference.pipeline.common import draw as draw_module
from inference.service.domains import Models
from inference.service.flow import Flow, decode_and_check, finish
from inference.service.predict import Prediction, predict
from inference.service.settings import Settings

from .photos import Photo
from .report import STAGES, percentile, summary

BATCH = 8  # batched: photos per predict call (the service's default INFERENCE_MAX_BATCH)


# -- batched ---------------------------------------------------------------------------------


def run_batch(models: Models, datas: list[bytes]) -> list[dict]:
    """The service's steps for a batch without HTTP: decode and gate each, one predict, encode each."""
    checked = [decode_and_check(d) for d in datas]
    ok = [i for i, c in enumerate(checked) if c.report.ok]
    preds: list[Prediction | None] = [None] * len(datas)
    for i, pr in zip(ok, predict(models, [checked[i].job() for i in ok]) if ok else []):
        preds[i] = pr
    out = []
    for (img, rep, timings, _), pr in zip(checked, preds):
        if pr is not None:
            timings["predict"] = pr.predict_ms
        out.append(finish(models, img, rep, pr, timings))
    return out


def bench_batched(models: Models, photos: list[Photo], repeats: int, batch: int = BATCH) -> dict:
    run_batch(models, [p.data for p in photos[:batch]])  # warm-up at the full batch size
    lat, count = [], 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for i in range(0, len(photos), batch):
            chunk = [p.data for p in photos[i : i + batch]]
            t = time.perf_counter()
            run_batch(models, chunk)
            lat.append((time.perf_counter() - t) * 1000)
            count += len(chunk)
    wall = time.perf_counter() - t0
    return summary(lat, count, wall, batch=batch, latency="per batch")


# -- one photo at a time -----------------------------------------------------------------------


async def bench_single(flow: Flow, photos: list[Photo], repeats: int, warmup: int) -> dict:
    for p in photos[:warmup]:
        await flow.analyze(p.data)
    lat, graded = [], 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for p in photos:
            t = time.perf_counter()
            r = await flow.analyze(p.data)
            lat.append((time.perf_counter() - t) * 1000)
            graded += r["grade"] is not None
    wall = time.perf_counter() - t0
    return summary(lat, len(lat), wall, graded=graded)


# -- stages ------------------------------------------------------------------------------------


class StageTimer:
    """Times the stages of a photo's way through the service by wrapping the functions it
    calls (``installed``: restored on exit). ``ms``: milliseconds per stage since the last
    ``reset``. The wrapped functions run on the flow's threads, one photo at a time, so one
    dict serves them all."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def reset(self) -> None:
        self.ms = {}

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t) * 1000

        return timed

    @contextlib.contextmanager
    def installed(self, models: Models) -> Iterator[StageTimer]:
        patched: list[tuple[Any, str, Any, bool]] = []

        def patch(obj: Any, attr: str, name: str) -> None:
            had = attr in vars(obj)
            patched.append((obj, attr, getattr(obj, attr), had))
            setattr(obj, attr, self.wrap(name, getattr(obj, attr)))

        if models.router is not None:
            patch(models.router, "probabilities", "route")
        for chain in models.chains.values():
            detector = getattr(chain, "detector", None)
            if detector is not None:
                patch(detector, "detect", "detect")
                patch(detector, "forward", "detect.forward")
            segmenter = getattr(chain, "segmenter", None)
            if segmenter is not None:  # the scalp chain: crops, the U-Net, labels pasted back
                patch(segmenter, "segment", "segment")
                patch(segmenter.unet, "probabilities", "segment.forward")
            elif getattr(chain, "unet", None) is not None:  # the face chain runs its U-Net itself
                patch(chain.unet, "probabilities", "segment.forward")
        patch(draw_module, "annotate", "draw")
        patch(draw_module, "encode_jpeg", "encode.jpeg")
        try:
            yield self
        finally:
            for obj, attr, orig, had in reversed(patched):
                if had:
                    setattr(obj, attr, orig)
                else:
                    delattr(obj, attr)


def stage_row(t: dict[str, float], ms: dict[str, float]) -> dict[str, float]:
    """One graded photo's stages from its answer's ``timings_ms`` and the timers' ``ms``."""
    route, detect = ms.get("route", 0.0), ms.get("detect", 0.0)
    # segment: the scalp chain's whole U-Net step, else the face chain's U-Net forward
    segment = ms.get("segment", 0.0) or ms.get("segment.forward", 0.0)
    draw_ms = ms.get("draw", 0.0)
    row = {
        "decode": t["decode"],
        "quality": t["quality"],
        "route": route,
        "detect": detect,
        "segment": segment,
        # the rest of the model call: the grade CNN, best box, masks pasted at full size, measure, grade
        "grade": max(0.0, t["predict"] - route - detect - segment),
        "draw": draw_ms,
        "encode": max(0.0, t["draw"] - draw_ms),  # the JPEG within Telegram's limits
        "total": t["total"],
        "detect.forward": ms.get("detect.forward", 0.0),
        "segment.forward": ms.get("segment.forward", 0.0),
        "encode.jpeg": ms.get("encode.jpeg", 0.0),
    }
    # base64, the answer dict, and the hand-offs between the event loop and the flow's threads
    row["other"] = max(0.0, row["total"] - sum(row[k] for k in STAGES))
    return row


async def bench_stages(flow: Flow, photos: list[Photo], warmup: int) -> dict:
    """Mean and p50 ms per graded photo of each stage, one photo at a time."""
    for p in photos[:warmup]:
        await flow.analyze(p.data)
    rows: list[dict[str, float]] = []
    timer = StageTimer()
    with timer.installed(flow.models):
        for p in photos:
            timer.reset()
            r = await flow.analyze(p.data)
            if r["grade"] is None:  # failed the gate: no model ran, no drawing
                continue
            rows.append(stage_row(r["timings_ms"], timer.ms))
    keys = list(rows[0]) if rows else [*STAGES, "total"]
    return {
        "photos": len(rows),
        "mean_ms": {k: round(statistics.fmean(r[k] for r in rows), 2) if rows else float("nan") for k in keys},
        "p50_ms": {k: round(percentile([r[k] for r in rows], 0.5), 2) for k in keys},
    }


# -- the section -------------------------------------------------------------------------------


async def _bench_pipeline(models: Models, settings: Settings, photos: list[Photo], repeats: int,
                          warmup: int) -> dict:
    async with Flow(settings.replace(max_batch=1), lambda s: models) as flow:
        single = await bench_single(flow, photos, repeats, warmup)
        batched = bench_batched(models, photos, repeats)  # in this thread: the flow's threads idle meanwhile
        stages = await bench_stages(flow, photos, warmup)
    return {"pipeline": {"single": single, "batched": batched}, "stages": stages}


def bench_pipeline(models: Models, settings: Settings, photos: list[Photo], repeats: int, warmup: int) -> dict:
    """(b) on ``models``: ``{"pipeline": {"single", "batched"}, "stages"}``, in one event loop."""
    return asyncio.run(_bench_pipeline(models, settings, photos, repeats, warmup))
