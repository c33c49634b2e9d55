#!/usr/bin/env python
"""Hostile images against the real service: its peak memory and an ordinary photo's latency.

Starts ``python -m inference serve`` on loopback with the shipped weights (``WEIGHTS_DIR``,
else ``weights/``; CPU unless ``--device``), warms it with the ordinary photo, then runs
each scenario: eight hostile uploads at once and, once they are in, the ordinary photo
(a scalp photo from ``../shared/datasets/scalp_uze/valid``, else a synthetic one).

Scenarios (a flat image compresses to a few hundred KB, however many pixels it claims):

* ``png16_7000``: the issue's file, a 16-bit grey 7000 x 7000 PNG (49 MP, ~110 KB);
* ``png16_5000``: the same at the 16-bit PNG limit (25 MP: accepted, decoded);
* ``rgba8_7000``: an 8-bit RGBA 7000 x 7000 PNG, the costliest PNG the limits accept.

Per scenario: the HTTP statuses, the service's peak RSS (``VmHWM``, reset before each
scenario through ``/proc/PID/clear_refs`` where allowed, and ``VmRSS`` sampled every
10 ms), the RSS before, the ordinary photo's latency and status, and the wall time until
every hostile upload was answered; the last line of the output is all of it as one JSON
object.

    .venv/bin/python scripts/hostile_decode_bench.py
    .venv/bin/python scripts/hostile_decode_bench.py --scenarios png16_7000 --hostile 8
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages
from inference.bench.system import proc_status_kb  # noqa: E402

SHARED = Path(os.environ.get("SHARED_DIR") or ROOT.parent / "shared")
MB = 1024 * 1024


def flat_png(w: int, h: int, dtype: type, channels: int, value: int) -> bytes:
    shape = (h, w) if channels == 1 else (h, w, channels)
    ok, buf = cv2.imencode(".png", np.full(shape, value, dtype))
    assert ok
    return buf.tobytes()


SCENARIOS = {
    "png16_7000": lambda: flat_png(7000, 7000, np.uint16, 1, 30000),
    "png16_5000": lambda: flat_png(5000, 5000, np.uint16, 1, 30000),
    "rgba8_7000": lambda: flat_png(7000, 7000, np.uint8, 4, 128),
}


def ordinary_photo() -> tuple[str, bytes]:
    photos = sorted((SHARED / "datasets" / "scalp_uze" / "valid").glob("*.jpg"))
    if photos:
        return photos[0].name, photos[0].read_bytes()
    small = np.random.default_rng(0).integers(40, 220, (60, 80, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.resize(small, (800, 600), interpolation=cv2.INTER_LINEAR))
    return "synthetic 800 x 600", buf.tobytes()


def status_kb(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` field in kB (the bench's own reader)."""
    return proc_status_kb(key, pid)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        return True
    except OSError:
        return False


class Sampler:
    """The highest VmRSS of a process, sampled every ``every`` seconds on a thread."""

    def __init__(self, pid: int, every: float = 0.01):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            time.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def post(session: aiohttp.ClientSession, url: str, data: bytes, name: str) -> tuple[int, float, dict]:
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name, content_type="application/octet-stream")
    t = time.perf_counter()
    async with session.post(url + "/v1/analyze", data=form) as resp:
        body = await resp.json(content_type=None)
        return resp.status, time.perf_counter() - t, body


async def metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    async with session.get(url + "/metrics") as resp:
        text = await resp.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scenario(session, url: str, pid: int, hostile: bytes, n: int, photo: tuple[str, bytes]) -> dict:
    rss_before = status_kb(pid, "VmRSS")
    hwm_reset = reset_peak(pid)
    with Sampler(pid) as sampler:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(post(session, url, hostile, f"hostile{i}.png")) for i in range(n)]
        # the ordinary photo once the hostile uploads are in (decoding, queued, or answered)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and not all(t.done() for t in tasks):
            if await metric(session, url, "inference_decode_reserved_bytes") > 0:
                break
            await asyncio.sleep(0.02)
        st, latency, body = await post(session, url, photo[1], photo[0])
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for s, _, b in results:
        key = f"{s} {b['error']['code']}" if s != 200 else "200"
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "hostile_bytes": len(hostile),
        "hostile_statuses": statuses,
        "ordinary_status": st,
        "ordinary_latency_s": round(latency, 3),
        "ordinary_timings_ms": body.get("timings_ms") if st == 200 else body,
        "rss_before_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(max(status_kb(pid, "VmHWM") if hwm_reset else 0, sampler.peak) / 1024, 1),
        "peak_rss_sampled_mb": round(sampler.peak / 1024, 1),
        "hwm_reset": hwm_reset,
        "all_answered_s": round(wall, 2),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(args: argparse.Namespace) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INFERENCE_DEVICE": args.device, "INFERENCE_API_KEY": "", "YOLO_OFFLINE": "1",
           "WEIGHTS_DIR": os.environ.get("WEIGHTS_DIR") or str(ROOT / "weights")}
    cmd = [sys.executable, "-m", "inference", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = tempfile.TemporaryFile()  # the service's log: read when it fails to start (a pipe could fill up)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    out: dict = {"device": args.device, "cores": os.cpu_count(), "hostile_per_scenario": args.hostile}
    try:
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=64)) as session:
            t = time.perf_counter()
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError("the service exited: " + log.read().decode(errors="replace")[-2000:])
                try:
                    async with session.get(url + "/healthz") as r:
                        if r.status == 200:
                            out["weights"] = (await r.json())["model_version"]
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            out["startup_s"] = round(time.perf_counter() - t, 1)
            photo = ordinary_photo()
            out["ordinary_photo"] = photo[0]
            alone = []
            for _ in range(4):  # the first warms the models; the others: its latency alone
                st, latency, _ = await post(session, url, photo[1], photo[0])
                assert st == 200, st
                alone.append(latency)
            out["ordinary_alone_s"] = round(sorted(alone[1:])[1], 3)
            out["idle_rss_mb"] = round(status_kb(proc.pid, "VmRSS") / 1024, 1)
            for name in args.scenarios:
                out[name] = await scenario(session, url, proc.pid, SCENARIOS[name](), args.hostile, photo)
                print(name, json.dumps(out[name]), flush=True)
            out["dropped"] = await metric(session, url, "inference_dropped_requests_total")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    p.add_argument("--hostile", type=int, default=8, help="hostile uploads at once (default 8)")
    p.add_argument("--device", default="cpu")
    result = asyncio.run(main(p.parse_args()))
    print(json.dumps(result))
