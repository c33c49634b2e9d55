"""Several service processes on one port: ``python -m inference serve --workers N``.

One process runs its models on one thread (``flow.py``): on a GPU host the per-photo
CPU work (decoding, the quality gate, the boxes' post-processing, drawing, JPEG) in
that one process, not the GPU, limits throughput. ``--workers N`` (``INFERENCE_WORKERS``)
runs N copies of the service, each with its own models and its own listening socket on
the same address (``SO_REUSEPORT``): the kernel spreads new connections over the N
sockets by a hash of the client's address and port. Not one shared socket (gunicorn's
design): each worker's event loop is idle while its threads work and whichever wakes
first accepts, so the load is uneven (one worker took twice the other's share of 64
connections on the 2-core CPU: CHANGELOG.md, 2026-11-26).

This module is the supervisor (the parent process; each worker runs ``serve.serve_worker``):
- it starts the workers (``multiprocessing``, spawn: each imports and loads afresh,
  nothing is forked half-made from the parent), restarts one that dies after it was
  serving, and stops everything, exit status 1, when one dies before it ever served
  (missing weights, a port taken by another program): restarting would only repeat it;
- SIGTERM / SIGINT: each worker gets SIGTERM, finishes what it is answering (aiohttp's
  graceful shut-down), and is killed after ``GRACEFUL_TIMEOUT_S``;
- CPU threads: with ``INFERENCE_THREADS`` 0 each worker gets ``cores // N`` threads
  (at least 1), so N workers do not oversubscribe the cores;
- ``/metrics``: Prometheus counters and histograms of all workers, summed, through
  ``prometheus_client``'s multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``: a temporary
  folder made and removed here when it is not set). ``/healthz`` answers from whichever
  worker took the connection and names it (``worker_pid``).

Example (two workers on this machine's cores)::

    python -m inference serve --workers 2 --port 8090
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import wait as wait_for
from typing import Any

from inference.models.onnx_runtime import usable_cores

from .settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
GRACEFUL_TIMEOUT_S = 30.0  # in-flight photos finish within this at shut-down
RESTART_DELAY_S = 1.0  # between a worker's death and its replacement

log = logging.getLogger("inference.service.workers")


def per_worker_settings(settings: Settings, workers: int, cores: int | None = None) -> Settings:
    """Each worker's share of the cores when ``threads`` is 0 (the default)."""
    if settings.threads > 0 or workers <= 1:
        return settings
    return settings.replace(threads=max(1, (cores or usable_cores()) // workers))


WorkerMain = Callable[[Settings, Any], None]  # (settings, an Event to set once serving)


class Supervisor:
    def __init__(self, settings: Settings, workers: int, target: WorkerMain):
        self.settings = per_worker_settings(settings, workers)
        self.target = target
        self.workers = workers
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list = [None] * workers
        self.ready: list = [None] * workers
        self.stopping = False

    def _start(self, i: int) -> None:
        ev = self.ctx.Event()
        p = self.ctx.Process(target=self.target, args=(self.settings, ev), name=f"inference-worker-{i}", daemon=False)
        p.start()
        self.procs[i], self.ready[i] = p, ev

    def _stop(self, *_args) -> None:
        self.stopping = True

    def run(self) -> int:
        """Serve until SIGTERM / SIGINT (0), or until a worker fails before serving (1)."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("starting %d workers on %s:%d, %d CPU threads each", self.workers, self.settings.host,
                 self.settings.port, self.settings.threads)
        for i in range(self.workers):
            self._start(i)
        status = 0
        try:
            while not self.stopping:
                wait_for([p.sentinel for p in self.procs], timeout=0.5)
                for i, p in enumerate(self.procs):
                    if p.is_alive() or self.stopping:
                        continue
                    _mark_dead(p.pid)
                    if not self.ready[i].is_set():
                        log.error("worker %d (pid %d) exited with %s before serving; stopping", i, p.pid, p.exitcode)
                        self.stopping, status = True, 1
                        break
                    log.warning("worker %d (pid %d) exited with %s; starting another", i, p.pid, p.exitcode)
                    time.sleep(RESTART_DELAY_S)
                    self._start(i)
        finally:
            self._shutdown()
        return status

    def _shutdown(self) -> None:
        for p in self.procs:
            if p is not None and p.is_alive():
                p.terminate()  # SIGTERM: aiohttp's graceful shut-down
        deadline = time.monotonic() + GRACEFUL_TIMEOUT_S
        for p in self.procs:
            if p is None:
                continue
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                log.warning("worker pid %d did not stop in %.0f s; killing it", p.pid, GRACEFUL_TIMEOUT_S)
                p.kill()
                p.join()
            _mark_dead(p.pid)
        log.info("all workers stopped")


def _mark_dead(pid: int | None) -> None:
    """A worker left: its live gauges (queue, models loaded) stop counting."""
    if pid is None or not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def serve_workers(settings: Settings, workers: int, target: WorkerMain) -> int:
    """Run ``workers`` processes of ``target`` (one service each) on ``settings.host:settings.port``;
    the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    made_dir = None
    if not os.environ.get(MULTIPROC_ENV):  # the spawned workers inherit it
        made_dir = tempfile.mkdtemp(prefix="inference-metrics-")
        os.environ[MULTIPROC_ENV] = made_dir
    try:
        return Supervisor(settings, workers, target).run()
    finally:
        if made_dir is not None:
            shutil.rmtree(made_dir, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)
