"""Prometheus metrics of the service (``prometheus_client``, one registry per app).

==================================  =========  =============================================
name                                type       labels
==================================  =========  =============================================
inference_requests_total            counter    route, status (HTTP status code)
inference_errors_total              counter    code (the ``error.code`` of the answer)
inference_request_seconds           histogram  route
inference_batch_size                histogram  model (photos in one forward pass)
inference_batch_seconds             histogram  model
inference_quality_rejections_total  counter    reason
inference_grades_total              counter    domain, grade
inference_queue_waiting             gauge      (photos waiting for a batch)
inference_models_loaded             gauge      domain
inference_dropped_requests_total    counter    stage (decode / model: dropped before it, the
                                               client having gone)
inference_decode_reserved_bytes     gauge      (the decode budget in use: budget.py)
inference_decode_waiting            gauge      (decodes waiting for room in the budget)
==================================  =========  =============================================

With several worker processes (``workers.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set and
``prometheus_client`` keeps every process's values in files there: ``render`` then
sums the counters and histograms of all workers, the queue gauge over the live ones,
and ``inference_models_loaded`` is the minimum over the live workers (1: every worker
has the domain loaded).
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter("inference_requests", "HTTP requests answered", ["route", "status"], registry=r)
        self.errors = Counter("inference_errors", "Error answers by error code", ["code"], registry=r)
        self.latency = Histogram(
            "inference_request_seconds", "Time to answer a request", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "inference_batch_size", "Photos in one forward pass", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "inference_batch_seconds", "Time of one batched model call", ["model"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.rejections = Counter("inference_quality_rejections", "Photos failing the quality gate", ["reason"],
                                  registry=r)
        self.grades = Counter("inference_grades", "Grades given", ["domain", "grade"], registry=r)
        self.waiting = Gauge("inference_queue_waiting", "Photos waiting for a batch", registry=r,
                             multiprocess_mode="livesum")
        self.dropped = Counter("inference_dropped_requests", "Requests dropped before a stage, the client having gone",
                               ["stage"], registry=r)
        self.decode_reserved = Gauge("inference_decode_reserved_bytes", "Bytes of the decode budget in use",
                                     registry=r, multiprocess_mode="livesum")
        self.decode_waiting = Gauge("inference_decode_waiting", "Decodes waiting for room in the decode budget",
                                    registry=r, multiprocess_mode="livesum")
        self.loaded = Gauge("inference_models_loaded", "1 when the domain's models are loaded", ["domain"], registry=r,
                            multiprocess_mode="livemin")

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
