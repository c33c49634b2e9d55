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
==================================  =========  =============================================
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
        self.rejections = Counter("inference_quality_rejections", "Photos failing the quality gate", ["reason"], registry=r)
        self.grades = Counter("inference_grades", "Grades given", ["domain", "grade"], registry=r)
        self.waiting = Gauge("inference_queue_waiting", "Photos waiting for a batch", registry=r)
        self.loaded = Gauge("inference_models_loaded", "1 when the domain's models are loaded", ["domain"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
