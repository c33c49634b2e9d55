"""Benchmark: the seed-style baseline, this pipeline in process, and the HTTP service.

    python -m inference.bench --data DATASETS       # 64 photos, CPU or the GPU when present
    python -m inference.bench --data DATASETS --n 32 --repeats 2 --concurrency 1,8,64 --json bench.json
    python -m inference.bench --data DATASETS --device cuda --skip-baseline

One run, on the same photos (JPEG bytes read at run time from the valid splits under the
datasets root that ``--data`` names: ``scalp_uze/valid``, and ``acne04/valid/images`` once
a face domain is registered in the service; the README gives this workplace's root):

(a) ``baseline``: what the original hackathon seed did, one photo at a time:
    decode the JPEG, ``ultralytics.YOLO(weights/scalp_yolo.pt).predict(...)``
    (the high-level API with its own pre- and post-processing), then the U-Net
    (``load_unet(weights/scalp_unet.pt)``) once per detected box crop. No drawing.
(b) ``pipeline``: the service's own per-photo code path without HTTP
    (``Runner.run_one``: decode, quality gate, route + ``ScalpModels.analyze``,
    draw, JPEG encode, base64), one photo at a time; and batched (8 photos:
    decode each, one ``Runner.predict``, encode each) for throughput. A separate
    pass times every stage (decode, quality, detect, segment, grade, draw,
    encode) by wrapping the same functions, so the timed runs are untouched.
(c) ``service``: ``python -m inference serve`` in its own process, as deployed,
    on 127.0.0.1 and a free port, hit by this process's aiohttp client at each
    ``--concurrency`` with multipart ``POST /v1/analyze``; the mean batch size
    comes from the service's /metrics, the RSS (now and peak: VmRSS, VmHWM) from
    the service process (with ``--workers N``: the supervisor and its N workers
    together, and each worker's CPU seconds per level, to show how evenly they
    shared the load). ``--in-process`` runs the app (``create_app``) in this
    process instead: the client then shares the GIL and the RSS with it (on the
    2-core CPU that adds about 30 ms at concurrency 1).

(a) and (b) run in this process after (c); the CPUs are shared by the client and
the service in (c), as on a real host with its load balancer. Latency is p50 / p95 in
ms, throughput photos/s; ratios are against (a): ``baseline p50 / p50`` and
``photos/s / baseline photos/s``.

Targets (``TARGETS``): on a CPU, one photo end to end (service at concurrency 1)
p50 <= 120 ms and >= 1.5x the baseline, service RSS <= 1.2 GB; on a GPU,
>= 1,000 photos/s at concurrency 64 and >= 5x concurrency 1.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402

from inference.paths import weights_dir  # noqa: E402

from inference.datasets import VALID_PHOTOS  # noqa: E402

SCALP_SPLIT = VALID_PHOTOS["scalp_uze"]
FACE_SPLIT = VALID_PHOTOS["acne04"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
BASELINE_CONF = 0.25  # Ultralytics' default predict confidence
BATCH = 8  # (b) batched: photos per Runner.predict call
STAGES = ("decode", "quality", "route", "detect", "segment", "grade", "draw", "encode")

TARGETS = {
    "cpu_p50_ms": 120.0,  # service, concurrency 1, p50
    "cpu_speedup": 1.5,  # baseline p50 / service c=1 p50
    "service_rss_bytes": 1.2e9,
    "gpu_photos_per_s_c64": 1000.0,
    "gpu_scaling_c64_over_c1": 5.0,
}


# -- photos -------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes


def _images_in(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if d.is_dir() else []


def face_domain_registered() -> bool:
    from inference.service.runner import domains

    spec = domains().get("face")
    return spec is not None and spec.load is not None


def photo_files(data: Path, with_face: bool) -> list[Path]:
    """The photos of the valid splits (a datasets root), or of ``data`` when it holds photos itself."""
    root = Path(data)
    direct = _images_in(root)
    if direct:
        return direct
    scalp = _images_in(root.joinpath(*SCALP_SPLIT))
    if not scalp:
        raise SystemExit(f"no photos in {root.joinpath(*SCALP_SPLIT)} (give --data DIR)")
    if not with_face:
        return scalp
    face = _images_in(root.joinpath(*FACE_SPLIT))
    # interleave, so the first N photos hold both domains
    out = []
    for i in range(max(len(scalp), len(face))):
        out += [lst[i] for lst in (scalp, face) if i < len(lst)]
    return out


def load_photos(files: list[Path], n: int) -> list[Photo]:
    """The first ``n`` photos (cycling when there are fewer files), as bytes."""
    if not files:
        raise SystemExit("no photos")
    return [Photo(files[i % len(files)].name, files[i % len(files)].read_bytes()) for i in range(n)]


# -- figures --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(lat_ms: list[float], photos: int, wall_s: float, **extra: Any) -> dict[str, Any]:
    return {
        "n": photos,
        "p50_ms": round(percentile(lat_ms, 0.5), 2),
        "p95_ms": round(percentile(lat_ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(lat_ms), 2) if lat_ms else float("nan"),
        "photos_per_s": round(photos / wall_s, 2) if wall_s > 0 else float("nan"),
        "wall_s": round(wall_s, 3),
        **extra,
    }


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return _proc_status_kb("VmRSS") * 1024


def hwm_bytes() -> int:
    """The process's RSS high-water mark so far."""
    kb = _proc_status_kb("VmHWM")
    return kb * 1024 if kb else peak_rss_bytes()


def _proc_status_kb(key: str, pid: int | str = "self") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc; the service's worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


def cpu_busy_s() -> float | None:
    """CPU seconds all processes spent busy since boot (Linux /proc/stat), None elsewhere."""
    try:
        f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_s() -> float:
    """This process's CPU time and its finished children's (the service process of (c))."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuWatch:
    """The share of the CPUs other processes used while the benchmark ran (noise in the figures)."""

    def __init__(self) -> None:
        self.t, self.busy, self.own = time.perf_counter(), cpu_busy_s(), own_cpu_s()

    def others_share(self) -> float | None:
        busy = cpu_busy_s()
        if busy is None or self.busy is None:
            return None
        wall = time.perf_counter() - self.t
        others = (busy - self.busy) - (own_cpu_s() - self.own)
        return round(max(0.0, others) / (wall * (os.cpu_count() or 1)), 3) if wall > 0 else None


def mb(b: float) -> float:
    return round(b / 1e6, 1)


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu} ({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores)"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# -- (a) the seed-style baseline --------------------------------------------------------


class Baseline:
    """Ultralytics' high-level ``predict`` per photo, then the U-Net once per box crop."""

    def __init__(self, weights: Path, device: str, conf: float = BASELINE_CONF):
        from ultralytics import YOLO

        from inference.models.unet import load_unet

        self.yolo = YOLO(str(weights / "scalp_yolo.pt"))
        ckpt = getattr(self.yolo, "ckpt", None) or {}
        self.imgsz = int((ckpt.get("train_args") or {}).get("imgsz") or self.yolo.overrides.get("imgsz") or 640)
        self.unet = load_unet(weights / "scalp_unet.pt", device=device)
        self.device, self.conf = device, conf
        self.boxes = 0

    def __call__(self, data: bytes) -> list[np.ndarray]:
        import cv2
        import torch

        from inference.models.unet import preprocess

        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        res = self.yolo.predict(bgr, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)[0]
        masks = []
        for x1, y1, x2, y2 in res.boxes.xyxy.cpu().numpy().astype(int).tolist():
            crop = rgb[max(0, y1) : y2, max(0, x1) : x2]
            if crop.shape[0] < 2 or crop.shape[1] < 2:
                continue
            with torch.inference_mode():
                logits = self.unet.net(preprocess([crop], self.unet.cfg.image_size).to(self.device))
            lab = torch.softmax(logits, 1).argmax(1)[0].to(torch.uint8).cpu().numpy()
            masks.append(cv2.resize(lab, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST))
            self.boxes += 1
        return masks


def bench_baseline(photos: list[Photo], weights: Path, device: str, repeats: int, warmup: int) -> dict:
    base = Baseline(weights, device)
    for p in photos[:warmup]:
        base(p.data)
    sync(device)
    base.boxes = 0
    lat = []
    t0 = time.perf_counter()
    for _ in range(repeats):
        for p in photos:
            t = time.perf_counter()
            base(p.data)
            sync(device)
            lat.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - t0
    out = summary(lat, len(lat), wall, boxes_per_photo=round(base.boxes / max(1, len(lat)), 2), imgsz=base.imgsz, conf=base.conf)
    del base
    gc.collect()
    return out


# -- (b) the pipeline in process -----------------------------------------------------------


def service_settings(device: str | None, weights: Path, workers: int | None = None):
    from inference.service.settings import Settings

    return Settings.from_env(device=device, weights=weights, workers=workers)


def bench_pipeline_single(runner, photos: list[Photo], repeats: int, warmup: int) -> dict:
    for p in photos[:warmup]:
        runner.run_one(p.data)
    lat, graded = [], 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for p in photos:
            t = time.perf_counter()
            r = runner.run_one(p.data)
            lat.append((time.perf_counter() - t) * 1000)
            graded += r["grade"] is not None
    wall = time.perf_counter() - t0
    return summary(lat, len(lat), wall, graded=graded)


def run_batch(runner, datas: list[bytes]) -> list[dict]:
    """The service's steps for a batch without HTTP: decode each, one predict, encode each."""
    from inference.service.runner import Job

    decoded = [runner.decode(d) for d in datas]
    ok = [i for i, (_, rep, _) in enumerate(decoded) if rep.ok]
    preds: list[Any] = [None] * len(datas)
    for i, pr in zip(ok, runner.predict([Job(decoded[i][0].rgb) for i in ok]) if ok else []):
        preds[i] = pr
    out = []
    for (img, rep, timings), pr in zip(decoded, preds):
        if pr is not None:
            timings["predict"] = pr.predict_ms
        out.append(runner.encode(img, rep, pr, timings))
    return out


def bench_pipeline_batched(runner, photos: list[Photo], repeats: int, batch: int = BATCH) -> dict:
    run_batch(runner, [p.data for p in photos[:batch]])  # warm-up at the full batch size
    lat, count = [], 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for i in range(0, len(photos), batch):
            chunk = [p.data for p in photos[i : i + batch]]
            t = time.perf_counter()
            run_batch(runner, chunk)
            lat.append((time.perf_counter() - t) * 1000)
            count += len(chunk)
    wall = time.perf_counter() - t0
    return summary(lat, count, wall, batch=batch, latency="per batch")


class StageTimer:
    """Times the stages of ``Runner.run_one`` by wrapping the functions it calls (restored on exit)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t) * 1000

        return timed

    @contextlib.contextmanager
    def installed(self, runner) -> Iterator["StageTimer"]:
        from inference.pipeline import draw

        patched: list[tuple[Any, str, Any, bool]] = []

        def patch(obj: Any, attr: str, name: str) -> None:
            had = attr in vars(obj)
            patched.append((obj, attr, getattr(obj, attr), had))
            setattr(obj, attr, self.wrap(name, getattr(obj, attr)))

        if runner.router is not None:
            patch(runner.router, "decisions", "route")
        for model in runner.models.values():
            if hasattr(model, "detector") and hasattr(model, "segmenter"):
                patch(model.detector, "detect", "detect")
                patch(model.detector, "forward", "detect.forward")
                # the scalp chain calls segment (crops, forward, paste); the face chain calls
                # predict_at on the lesions' region and pastes itself (counted under "grade")
                patch(model.segmenter, "segment", "segment")
                patch(model.segmenter, "predict_at", "segment.forward")
        patch(draw, "annotate", "draw")
        patch(draw, "encode_jpeg", "encode.jpeg")
        try:
            yield self
        finally:
            for obj, attr, orig, had in reversed(patched):
                if had:
                    setattr(obj, attr, orig)
                else:
                    delattr(obj, attr)


def bench_stages(runner, photos: list[Photo], warmup: int) -> dict:
    """Mean ms per graded photo of each stage of ``Runner.run_one``, one photo at a time."""
    for p in photos[:warmup]:
        runner.run_one(p.data)
    rows: list[dict[str, float]] = []
    for p in photos:
        st = StageTimer()
        with st.installed(runner):
            r = runner.run_one(p.data)
        if r["grade"] is None:  # failed the gate: no model ran, no drawing
            continue
        t = r["timings_ms"]
        ms = st.ms
        detect, route = ms.get("detect", 0.0), ms.get("route", 0.0)
        # segment: the scalp chain's whole U-Net step, else the face chain's U-Net forward
        segment = ms.get("segment", 0.0) or ms.get("segment.forward", 0.0)
        draw_ms, jpeg = ms.get("draw", 0.0), ms.get("encode.jpeg", 0.0)
        rows.append(
            {
                "decode": t["decode"],
                "quality": t["quality"],
                "route": route,
                "detect": detect,
                "segment": segment,
                # the rest of the model call: best box, masks pasted at full size, measure, grade
                "grade": max(0.0, t["predict"] - route - detect - segment),
                "draw": draw_ms,
                "encode": max(0.0, t["draw"] - draw_ms),  # the JPEG within Telegram's limits
                "total": t["total"],
                "detect.forward": ms.get("detect.forward", 0.0),
                "segment.forward": ms.get("segment.forward", 0.0),
                "encode.jpeg": jpeg,
            }
        )
    for row in rows:  # base64, the answer dict, routing, the answer's regions
        row["other"] = max(0.0, row["total"] - sum(row[k] for k in STAGES))
    keys = list(rows[0]) if rows else list(STAGES) + ["total"]
    return {
        "photos": len(rows),
        "mean_ms": {k: round(statistics.fmean(r[k] for r in rows), 2) if rows else float("nan") for k in keys},
        "p50_ms": {k: round(percentile([r[k] for r in rows], 0.5), 2) for k in keys},
    }


# -- (c) the HTTP service --------------------------------------------------------------------


def batch_stats(text: str) -> tuple[float, float]:
    """(sum, count) of ``inference_batch_size`` over every model, from the /metrics text."""
    from prometheus_client.parser import text_string_to_metric_families

    s = c = 0.0
    for fam in text_string_to_metric_families(text):
        if fam.name == "inference_batch_size":
            for sample in fam.samples:
                if sample.name.endswith("_sum"):
                    s += sample.value
                elif sample.name.endswith("_count"):
                    c += sample.value
    return s, c


async def _post(session, url: str, photo: Photo) -> tuple[float, int, dict | None]:
    from aiohttp import FormData

    form = FormData()
    form.add_field("image", photo.data, filename=photo.name, content_type="image/jpeg")
    t = time.perf_counter()
    try:
        async with session.post(url + "/v1/analyze", data=form) as resp:
            body = await resp.read()
            ms = (time.perf_counter() - t) * 1000
            return ms, resp.status, (json.loads(body) if resp.status == 200 else None)
    except Exception:  # a refused or reset connection counts as an error
        return (time.perf_counter() - t) * 1000, 0, None


async def _load(session, url: str, photos: list[Photo], total: int, concurrency: int) -> tuple[list, float]:
    results: list[tuple[float, int, dict | None]] = []
    nxt = 0

    async def worker() -> None:
        nonlocal nxt
        while nxt < total:
            i = nxt
            nxt += 1
            results.append(await _post(session, url, photos[i % len(photos)]))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - t0


class _ServiceProcess:
    """``python -m inference serve`` in its own process, as in production: the benchmark's
    client then does not share the service's GIL, and the RSS is the service's alone."""

    def __init__(self, settings):
        self.settings = settings
        self.proc = None
        self.url = ""

    def _env(self) -> dict:
        s = self.settings
        env = dict(os.environ)
        env.update({"INFERENCE_DEVICE": str(s.resolved_device()), "WEIGHTS_DIR": str(s.weights),
                    "INFERENCE_MAX_BATCH": str(s.max_batch), "INFERENCE_MAX_WAIT_MS": str(s.max_wait_ms),
                    "INFERENCE_MAX_QUEUE": str(s.max_queue), "INFERENCE_THREADS": str(s.threads),
                    "INFERENCE_IO_THREADS": str(s.io_threads), "INFERENCE_WORKERS": str(s.workers),
                    "INFERENCE_API_KEY": ""})
        return env

    async def start(self) -> float:
        import socket
        import subprocess

        import aiohttp

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        t = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "inference", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                     env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("the service exited: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
                try:
                    async with session.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        return time.perf_counter() - t

    def workers(self) -> list[int]:
        """The processes that answer: the service itself, or the workers under gunicorn's master."""
        tree = process_tree(self.proc.pid)
        workers = [p for p in tree[1:] if b"spawn_main" in _cmdline(p)]  # not multiprocessing's resource tracker
        return workers or tree[:1]

    def rss(self) -> int:
        """Every process of the service together (master and workers)."""
        return sum(_proc_status_kb("VmRSS", p) for p in process_tree(self.proc.pid)) * 1024

    def hwm(self) -> int:
        """The sum of each process's peak (an upper bound of the peak of their sum)."""
        return sum(_proc_status_kb("VmHWM", p) for p in process_tree(self.proc.pid)) * 1024

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except Exception:
                self.proc.kill()


class _ServiceInProcess:
    """The service in this process (``--in-process``): the client shares its GIL."""

    def __init__(self, settings):
        self.settings = settings
        self.runner = None
        self.url = ""

    async def start(self) -> float:
        from aiohttp import web

        from inference.service.app import create_app

        self.runner = web.AppRunner(create_app(self.settings), access_log=None)
        t = time.perf_counter()
        await self.runner.setup()  # loads the models (cleanup_ctx)
        dt = time.perf_counter() - t
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return dt

    def workers(self) -> list[int]:
        return [os.getpid()]

    def rss(self) -> int:
        return rss_bytes()

    def hwm(self) -> int:
        return hwm_bytes()  # the process so far: imports, the service and the client

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def _bench_service(settings, photos: list[Photo], levels: list[int], repeats: int, warmup: int, in_process: bool = False) -> dict:
    import aiohttp

    svc = _ServiceInProcess(settings) if in_process else _ServiceProcess(settings)
    out: dict[str, Any] = {"mode": "in-process" if in_process else "own process"}
    if in_process:
        out["rss_before_load_mb"] = mb(rss_bytes())
    out["load_s"] = round(await svc.start(), 2)
    out["rss_after_load_mb"] = mb(svc.rss())
    try:
        url = svc.url
        conn = aiohttp.TCPConnector(limit=max(levels) + 4)
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
            async with session.get(url + "/healthz") as r:
                health = await r.json()
            out["device"] = health["device"]
            # warm-up: one at a time, then a full batch at once
            for p in photos[:warmup]:
                await _post(session, url, p)
            await asyncio.gather(*(_post(session, url, photos[i % len(photos)]) for i in range(settings.max_batch)))
            levels_out = {}
            for c in levels:
                async with session.get(url + "/metrics") as r:
                    s0, c0 = batch_stats(await r.text())
                pids = svc.workers()
                cpu0 = [cpu_seconds(pid) for pid in pids]
                res, wall = await _load(session, url, photos, len(photos) * repeats, c)
                cpu1 = [cpu_seconds(pid) for pid in pids]
                async with session.get(url + "/metrics") as r:
                    s1, c1 = batch_stats(await r.text())
                ok = [x for x in res if x[1] == 200]
                errors = len(res) - len(ok)
                queue = [x[2]["timings_ms"].get("queue", 0.0) for x in ok if x[2] and "queue" in x[2]["timings_ms"]]
                server = [x[2]["timings_ms"] for x in ok if x[2]]
                server_keys = [k for k in ("decode", "quality", "queue", "predict", "draw", "total") if any(k in t for t in server)]
                levels_out[str(c)] = summary(
                    [x[0] for x in ok], len(ok), wall,
                    concurrency=c,
                    errors=errors,
                    error_statuses=sorted({x[1] for x in res if x[1] != 200}),
                    mean_batch=round((s1 - s0) / (c1 - c0), 2) if c1 > c0 else None,
                    # CPU seconds each answering process used (how evenly the workers shared the load)
                    worker_cpu_s=[round(b - a, 2) for a, b in zip(cpu0, cpu1)],
                    mean_queue_ms=round(statistics.fmean(queue), 2) if queue else None,
                    graded=sum(1 for x in ok if x[2] and x[2]["grade"] is not None),
                    # the service's own timings_ms, mean over the answers (predict: the whole batch's model call)
                    server_ms={k: round(statistics.fmean(t.get(k, 0.0) for t in server), 2) for k in server_keys},
                )
            out["levels"] = levels_out
        out["rss_after_load_test_mb"] = mb(svc.rss())
        out["peak_rss_mb"] = mb(svc.hwm())
    finally:
        await svc.stop()
    return out


def bench_service(settings, photos: list[Photo], levels: list[int], repeats: int, warmup: int, in_process: bool = False) -> dict:
    return asyncio.run(_bench_service(settings, photos, levels, repeats, warmup, in_process))


# -- the whole run ---------------------------------------------------------------------------


def ratios(base: dict | None, row: dict) -> dict:
    if not base:
        return {"latency": None, "throughput": None}
    return {
        "latency": round(base["p50_ms"] / row["p50_ms"], 2) if row["p50_ms"] > 0 else None,
        "throughput": round(row["photos_per_s"] / base["photos_per_s"], 2) if base["photos_per_s"] > 0 else None,
    }


def check_targets(res: dict) -> dict:
    gpu = res["meta"]["device"].startswith("cuda")
    levels = res["service"]["levels"]
    c1 = levels.get("1")
    base = res.get("baseline")
    t: dict[str, Any] = {}
    if c1:
        t["p50_c1_le_120ms"] = {"value": c1["p50_ms"], "target": TARGETS["cpu_p50_ms"], "met": c1["p50_ms"] <= TARGETS["cpu_p50_ms"], "applies": not gpu}
        if base:
            sp = base["p50_ms"] / c1["p50_ms"]
            t["c1_vs_baseline_ge_1.5x"] = {"value": round(sp, 2), "target": TARGETS["cpu_speedup"], "met": sp >= TARGETS["cpu_speedup"], "applies": True}
    rss = res["service"]["peak_rss_mb"] * 1e6
    t["service_rss_le_1.2GB"] = {"value": mb(rss), "target": mb(TARGETS["service_rss_bytes"]), "met": rss <= TARGETS["service_rss_bytes"], "applies": not gpu}
    c64 = levels.get("64")
    if c64:
        t["c64_ge_1000_photos_s"] = {"value": c64["photos_per_s"], "target": TARGETS["gpu_photos_per_s_c64"], "met": c64["photos_per_s"] >= TARGETS["gpu_photos_per_s_c64"], "applies": gpu}
        if c1:
            sc = c64["photos_per_s"] / c1["photos_per_s"]
            t["c64_ge_5x_c1"] = {"value": round(sc, 2), "target": TARGETS["gpu_scaling_c64_over_c1"], "met": sc >= TARGETS["gpu_scaling_c64_over_c1"], "applies": gpu}
    return t


def run(args: argparse.Namespace) -> dict:
    import torch

    from inference.service.runner import Runner

    weights = Path(args.weights) if args.weights else weights_dir()
    worker_counts = [int(w) for w in str(args.workers).split(",") if w.strip()] if args.workers else [None]
    settings = service_settings(args.device, weights, worker_counts[0])
    if args.in_process and (settings.workers > 1 or len(worker_counts) > 1):
        raise SystemExit("--in-process runs one service process; leave out --workers")
    device = settings.resolved_device()
    if args.threads:
        torch.set_num_threads(args.threads)
    with_face = face_domain_registered()
    files = photo_files(args.data, with_face)
    photos = load_photos(files, args.n)
    levels = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    warmup = max(1, min(args.warmup, len(photos)))
    res: dict[str, Any] = {
        "meta": {
            "device": device,
            "device_name": device_name(device),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "photos": len(photos),
            "distinct_files": min(len(files), len(photos)),
            "photo_source": " + ".join(dict.fromkeys(str(f.parent) for f in files[: len(photos)])) + (" (interleaved)" if with_face else ""),
            "face_domain": with_face,
            "repeats": args.repeats,
            "warmup": warmup,
            "service_settings": {k: getattr(settings, k) for k in ("max_batch", "max_wait_ms", "max_queue", "threads", "io_threads", "workers")},
            "rss_start_mb": mb(rss_bytes()),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if not args.quiet else (lambda *a: None)
    watch = CpuWatch()

    log(f"[bench] (c) service at concurrency {levels} ...")
    res["service"] = bench_service(settings, photos, levels, args.repeats, warmup, args.in_process)
    # more worker counts (--workers 1,2): the same load on the same photos, one after the other
    res["service_more_workers"] = {}
    for w in worker_counts[1:]:
        log(f"[bench] (c) service with {w} workers ...")
        res["service_more_workers"][str(w)] = bench_service(settings.replace(workers=w), photos, levels, args.repeats, warmup)
    gc.collect()

    log("[bench] (b) pipeline in process ...")
    r = Runner.setup(settings)
    res["meta"]["flips"] = list(getattr(r.models.get("scalp"), "flips", ()))
    res["pipeline"] = {
        "single": bench_pipeline_single(r, photos, args.repeats, warmup),
        "batched": bench_pipeline_batched(r, photos, args.repeats),
    }
    res["stages"] = bench_stages(r, photos, warmup)
    del r
    gc.collect()

    if args.skip_baseline:
        res["baseline"] = None
    else:
        log("[bench] (a) seed-style baseline ...")
        res["baseline"] = bench_baseline(photos, weights, device, args.repeats, warmup)

    base = res["baseline"]
    res["ratios"] = {
        "pipeline_single": ratios(base, res["pipeline"]["single"]),
        "pipeline_batched": ratios(base, res["pipeline"]["batched"]),
        **{f"service_c{c}": ratios(base, row) for c, row in res["service"]["levels"].items()},
        # more workers against the first worker count, level by level
        **{f"workers{w}_c{c}": ratios(res["service"]["levels"][c], row)
           for w, more in res["service_more_workers"].items() for c, row in more["levels"].items()},
    }
    res["rss"] = {
        "service_after_load_mb": res["service"]["rss_after_load_mb"],
        "service_after_load_test_mb": res["service"]["rss_after_load_test_mb"],
        "service_peak_mb": res["service"]["peak_rss_mb"],
        "process_peak_mb": mb(peak_rss_bytes()),
    }
    res["targets"] = check_targets(res)
    res["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["meta"]["other_processes_cpu_share"] = watch.others_share()
    return res


# -- printing ----------------------------------------------------------------------------------


def _f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def report(res: dict) -> str:
    m = res["meta"]
    lines = [
        f"inference.bench: device {m['device']} ({m['device_name']}), torch {m['torch']}, "
        f"{m['torch_threads']} torch threads, {m['cpus']} CPUs; load average (1, 5, 15 min) "
        f"{m['loadavg_start']} at the start, {m.get('loadavg_end')} at the end; other processes used "
        f"{_f(None if m.get('other_processes_cpu_share') is None else m['other_processes_cpu_share'] * 100)}% of the CPUs meanwhile",
        f"photos: {m['photos']} ({m['distinct_files']} files) from {m['photo_source']}, x{m['repeats']} repeats, "
        f"warm-up {m['warmup']}; flips {','.join(m.get('flips', [])) or '-'}; service {m['service_settings']}",
        "",
        f"{'':30} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'photos/s':>9} {'x base p50':>10} {'x base /s':>9}  notes",
    ]

    def row(label: str, r: dict | None, rat: dict | None, notes: str = "") -> None:
        if r is None:
            lines.append(f"{label:30} {'skipped':>5}")
            return
        rat = rat or {}
        lines.append(
            f"{label:30} {r['n']:>5} {_f(r['p50_ms']):>8} {_f(r['p95_ms']):>8} {_f(r['photos_per_s']):>9} "
            f"{_f(rat.get('latency'), 2):>10} {_f(rat.get('throughput'), 2):>9}  {notes}"
        )

    b = res["baseline"]
    row("(a) baseline (seed style)", b, None, f"{b['boxes_per_photo']} boxes/photo, imgsz {b['imgsz']}, conf {b['conf']}" if b else "")
    p = res["pipeline"]
    row("(b) pipeline, 1 photo", p["single"], res["ratios"]["pipeline_single"], f"{p['single']['graded']} graded")
    row(f"(b) pipeline, batch {p['batched']['batch']}", p["batched"], res["ratios"]["pipeline_batched"], "latency per batch")
    for c, r in res["service"]["levels"].items():
        row(
            f"(c) service, concurrency {c}", r, res["ratios"][f"service_c{c}"],
            f"mean batch {_f(r['mean_batch'], 2)}, queue {_f(r['mean_queue_ms'])} ms, errors {r['errors']}"
            + (f", worker CPU s {r['worker_cpu_s']}" if len(r.get("worker_cpu_s", [])) > 1 else ""),
        )
    first = res["meta"]["service_settings"]["workers"]
    for w, more in res.get("service_more_workers", {}).items():
        for c, r in more["levels"].items():
            row(
                f"(c) {w} workers, concurrency {c}", r, res["ratios"][f"workers{w}_c{c}"],
                f"x columns: against {first} worker(s); mean batch {_f(r['mean_batch'], 2)}, errors {r['errors']}"
                + (f", worker CPU s {r['worker_cpu_s']}" if len(r.get("worker_cpu_s", [])) > 1 else ""),
            )
        lines.append(f"{'':30} RSS with {w} workers: after load {more['rss_after_load_mb']} MB, peak {more['peak_rss_mb']} MB (sum over the processes)")
    lines += ["", "(c) the service's own timings_ms, mean per answer (predict: the batch's model call):"]
    for c, r in res["service"]["levels"].items():
        lines.append(f"  concurrency {c:>3}: " + "  ".join(f"{k} {_f(v)}" for k, v in r.get("server_ms", {}).items()))
    st = res["stages"]
    lines += ["", f"(b) stages, ms per graded photo ({st['photos']} photos, one at a time; mean / p50):"]
    keys = [k for k in (*STAGES, "other", "total") if k in st["mean_ms"]]
    lines.append("  " + "  ".join(f"{k} {_f(st['mean_ms'][k])}/{_f(st['p50_ms'][k])}" for k in keys))
    sub = [k for k in ("detect.forward", "segment.forward", "encode.jpeg") if k in st["mean_ms"]]
    if sub:
        lines.append("  of which: " + "  ".join(f"{k} {_f(st['mean_ms'][k])}" for k in sub))
    rs = res["rss"]
    lines += [
        "",
        f"RSS: service after load {rs['service_after_load_mb']} MB, after the load test {rs['service_after_load_test_mb']} MB, "
        f"peak while serving {rs['service_peak_mb']} MB; process peak (ru_maxrss) {rs['process_peak_mb']} MB",
        "",
        "targets:",
    ]
    for name, t in res["targets"].items():
        state = ("MET" if t["met"] else "NOT MET") if t["applies"] else f"n/a on {m['device']} ({'met' if t['met'] else 'not met'})"
        lines.append(f"  {name:28} {_f(t['value'], 2):>9} (target {_f(t['target'], 2)}): {state}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference.bench", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True,
                   help="a datasets root (holding scalp_uze/valid, and acne04/valid/images) or a folder of photos")
    p.add_argument("--n", type=int, default=64, help="photos (default 64; cycles when the split has fewer)")
    p.add_argument("--device", default=None, help="default $INFERENCE_DEVICE, else cuda when present, else cpu")
    p.add_argument("--weights", default=None, help="default $WEIGHTS_DIR or weights/")
    p.add_argument("--repeats", type=int, default=3, help="passes over the photos in each timed section (default 3)")
    p.add_argument("--concurrency", default="1,8,64", help="service client concurrency levels (default 1,8,64)")
    p.add_argument("--warmup", type=int, default=4, help="untimed photos before each section (default 4)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--skip-baseline", action="store_true", help="leave out (a)")
    p.add_argument("--workers", default=None,
                   help="service processes for (c), or a list such as 1,2 to compare them on the same photos "
                        "(default $INFERENCE_WORKERS or 1; inference/service/workers.py)")
    p.add_argument("--in-process", action="store_true",
                   help="run the service in this process (default: its own process, as deployed; the client then shares no GIL with it)")
    p.add_argument("--json", dest="json_out", type=Path, default=None, help="write the figures here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    if args.n < 1 or args.repeats < 1:
        p.error("--n and --repeats must be at least 1")
    import logging

    logging.getLogger("ultralytics").setLevel(logging.WARNING)
    res = run(args)
    print(report(res), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
