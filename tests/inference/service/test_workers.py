"""``python -m inference serve --workers N``: several real service processes on one port.

The slow test starts the real command with the real weights on a free loopback port and
checks what an operator relies on: both workers answer, /metrics sums them, a killed
worker is replaced while the other keeps serving, SIGTERM stops everything and removes
the metrics folder. The others check the thread split and the start-up failure path.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inference.service.settings import Settings
from inference.service.workers import per_worker_settings
from tests.paths import ROOT, SHARED, WEIGHTS

WEIGHTS = WEIGHTS
PHOTOS = sorted((SHARED / "datasets" / "scalp_uze" / "valid").glob("*.jpg"))


def test_per_worker_threads():
    s = Settings()
    assert per_worker_settings(s, 4, cores=16).threads == 4
    assert per_worker_settings(s, 4, cores=2).threads == 1  # never zero
    assert per_worker_settings(s, 1, cores=16) == s  # one process keeps the library default
    assert per_worker_settings(s.replace(threads=3), 4, cores=16).threads == 3  # INFERENCE_THREADS wins
    assert Settings.from_env({}).workers == 1
    assert Settings.from_env({"INFERENCE_WORKERS": "3"}).workers == 3
    assert Settings.from_env({"INFERENCE_WORKERS": "3"}, workers=2).workers == 2  # the command line wins


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path: Path, port: int, weights: Path, workers: int = 2) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INFERENCE_THREADS": "1", "INFERENCE_IO_THREADS": "2",
           "WEIGHTS_DIR": str(weights), "YOLO_OFFLINE": "1", "INFERENCE_API_KEY": "", "TMPDIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "inference", "serve", "--port", str(port), "--workers", str(workers), "--device", "cpu"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


async def get_json(url: str) -> dict:
    # a new connection each time: the kernel picks the worker per connection
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        async with s.get(url) as r:
            assert r.status == 200
            return await r.json()


async def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
        try:
            await get_json(url + "/healthz")
            return
        except (aiohttp.ClientError, AssertionError):
            await asyncio.sleep(0.3)
    raise TimeoutError("the workers did not start")


async def pids_answering(url: str, tries: int = 24) -> set[int]:
    return {(await get_json(url + "/healthz"))["worker_pid"] for _ in range(tries)}


async def until_both_answer(url: str, timeout: float = 120) -> set[int]:
    """The worker pids answering 24 connections, asked again until two answer: a worker
    opens its socket only once its models are loaded, so the first healthy answer can come
    while the other is still loading."""
    deadline = time.monotonic() + timeout
    while True:
        pids = await pids_answering(url)
        if len(pids) >= 2 or time.monotonic() > deadline:
            return pids
        await asyncio.sleep(0.5)


def samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


@pytest.mark.slow
async def test_two_workers_share_the_port(tmp_path):
    if not PHOTOS or not (WEIGHTS / "scalp_yolo.pt").is_file():
        pytest.skip("needs ../shared/datasets/scalp_uze and the shipped weights")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port, WEIGHTS)
    try:
        await wait_healthy(proc, url)
        health = await get_json(url + "/healthz")
        assert health["workers"] == 2 and health["models_loaded"] == ["face", "scalp"]
        first = await until_both_answer(url)
        assert len(first) == 2, f"one worker answered every connection: {first}"

        async def analyze(data: bytes) -> dict:
            form = aiohttp.FormData()
            form.add_field("image", data, filename="p.jpg", content_type="image/jpeg")
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                async with s.post(url + "/v1/analyze", data=form) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

        photos = [p.read_bytes() for p in PHOTOS[:8]]
        answers = await asyncio.gather(*(analyze(d) for d in photos))
        assert all(a["quality"]["ok"] is not None and a["domain"] == "scalp" for a in answers)
        # /metrics from either worker counts the answers of both
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/metrics") as r:
                m = samples(await r.text())
        assert m[("inference_requests_total", (("route", "/v1/analyze"), ("status", "200")))] == 8
        assert m[("inference_batch_size_sum", (("model", "scalp"),))] == 8
        assert m[("inference_models_loaded", (("domain", "scalp"),))] == 1

        # a worker that dies is replaced; the other goes on answering meanwhile
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            now = await pids_answering(url, tries=8)
            if victim not in now and len(now) == 2:
                break
            assert time.monotonic() < deadline, f"no replacement for pid {victim}: {now}"
            await asyncio.sleep(0.5)
        assert proc.poll() is None
        again = await analyze(photos[0])
        assert again["grade"] == answers[0]["grade"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out = (await asyncio.to_thread(proc.communicate, timeout=90))[0].decode(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    assert "all workers stopped" in out
    assert not list(tmp_path.glob("inference-metrics-*")), "the metrics folder was left behind"
    for pid in first - {victim}:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


async def test_worker_failing_before_serving_stops_the_service(tmp_path):
    """Missing weights: each worker fails while loading, so the supervisor exits 1 instead
    of restarting them forever."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    proc = start(tmp_path, free_port(), empty)
    out = (await asyncio.to_thread(proc.communicate, timeout=120))[0].decode(errors="replace")
    assert proc.returncode == 1, out[-3000:]
    assert "before serving" in out and "no domain model could be loaded" in out
    assert not list(tmp_path.glob("inference-metrics-*"))
