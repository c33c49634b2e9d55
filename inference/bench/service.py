"""(c) The HTTP service: ``python -m inference serve`` in its own process (as deployed) or the
app in this process (``--in-process``), hit by this process's aiohttp client with multipart
``POST /v1/analyze`` at each concurrency level.

The mean batch size comes from the service's ``/metrics``; the RSS (VmRSS now, VmHWM peak)
and each answering process's CPU seconds from ``/proc``.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from aiohttp import web

from inference.service.settings import Settings

from .photos import Photo
from .report import summary
from .system import cmdline, cpu_seconds, hwm_bytes, mb, proc_status_kb, process_tree, rss_bytes

SERVER_TIMINGS = ("decode", "quality", "queue", "predict", "draw", "total")  # the answer's timings_ms, in order


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

    def __init__(self, settings: Settings):
        self.settings = settings
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def _env(self) -> dict:
        s = self.settings
        env = dict(os.environ)
        env.update({"INFERENCE_DEVICE": str(s.resolved_device()), "WEIGHTS_DIR": str(s.weights),
                    "INFERENCE_BACKEND": s.backend, "INFERENCE_INT8": "auto" if s.int8 else "off",
                    "INFERENCE_MAX_BATCH": str(s.max_batch), "INFERENCE_MAX_WAIT_MS": str(s.max_wait_ms),
                    "INFERENCE_MAX_QUEUE": str(s.max_queue), "INFERENCE_THREADS": str(s.threads),
                    "INFERENCE_IO_THREADS": str(s.io_threads), "INFERENCE_WORKERS": str(s.workers),
                    "INFERENCE_API_KEY": ""})
        return env

    async def start(self) -> float:
        import socket

        import aiohttp

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "inference", "serve", "--host", "127.0.0.1", "--port", str(port)]
        self.proc = subprocess.Popen(cmd, env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise RuntimeError("the service exited: " + err[-2000:])
                try:
                    async with session.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        return time.perf_counter() - t

    def workers(self) -> list[int]:
        """The processes that answer: the service itself, or its workers under the supervisor
        (``inference/service/workers.py``)."""
        tree = process_tree(self.proc.pid)
        workers = [p for p in tree[1:] if b"spawn_main" in cmdline(p)]  # not multiprocessing's resource tracker
        return workers or tree[:1]

    def rss(self) -> int:
        """Every process of the service together (master and workers)."""
        return sum(proc_status_kb("VmRSS", p) for p in process_tree(self.proc.pid)) * 1024

    def hwm(self) -> int:
        """The sum of each process's peak (an upper bound of the peak of their sum)."""
        return sum(proc_status_kb("VmHWM", p) for p in process_tree(self.proc.pid)) * 1024

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except Exception:
                self.proc.kill()


class _ServiceInProcess:
    """The service in this process (``--in-process``): the client shares its GIL."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> float:
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


async def _metrics_batches(session, url: str) -> tuple[float, float]:
    async with session.get(url + "/metrics") as r:
        return batch_stats(await r.text())


async def _level(session, url: str, svc, photos: list[Photo], total: int, concurrency: int) -> dict:
    """``total`` requests at ``concurrency``: the client's latencies and the service's own figures."""
    s0, c0 = await _metrics_batches(session, url)
    pids = svc.workers()
    cpu0 = [cpu_seconds(pid) for pid in pids]
    res, wall = await _load(session, url, photos, total, concurrency)
    cpu1 = [cpu_seconds(pid) for pid in pids]
    s1, c1 = await _metrics_batches(session, url)
    ok = [x for x in res if x[1] == 200]
    queue = [x[2]["timings_ms"].get("queue", 0.0) for x in ok if x[2] and "queue" in x[2]["timings_ms"]]
    server = [x[2]["timings_ms"] for x in ok if x[2]]
    server_keys = [k for k in SERVER_TIMINGS if any(k in t for t in server)]
    return summary(
        [x[0] for x in ok], len(ok), wall,
        concurrency=concurrency,
        errors=len(res) - len(ok),
        error_statuses=sorted({x[1] for x in res if x[1] != 200}),
        mean_batch=round((s1 - s0) / (c1 - c0), 2) if c1 > c0 else None,
        # CPU seconds each answering process used (how evenly the workers shared the load)
        worker_cpu_s=[round(b - a, 2) for a, b in zip(cpu0, cpu1)],
        mean_queue_ms=round(statistics.fmean(queue), 2) if queue else None,
        graded=sum(1 for x in ok if x[2] and x[2]["grade"] is not None),
        # the service's own timings_ms, mean over the answers (predict: the whole batch's model call)
        server_ms={k: round(statistics.fmean(t.get(k, 0.0) for t in server), 2) for k in server_keys},
    )


async def _bench_service(settings: Settings, photos: list[Photo], levels: list[int], repeats: int, warmup: int,
                         in_process: bool = False) -> dict:
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
            out["levels"] = {str(c): await _level(session, url, svc, photos, len(photos) * repeats, c) for c in levels}
        out["rss_after_load_test_mb"] = mb(svc.rss())
        out["peak_rss_mb"] = mb(svc.hwm())
    finally:
        await svc.stop()
    return out


def bench_service(settings: Settings, photos: list[Photo], levels: list[int], repeats: int, warmup: int,
                  in_process: bool = False) -> dict:
    return asyncio.run(_bench_service(settings, photos, levels, repeats, warmup, in_process))
