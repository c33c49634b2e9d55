"""The service's routes."""
from __future__ import annotations

from aiohttp import web

from . import views

ROUTES = [
    web.post("/v1/analyze", views.analyze, name="analyze"),
    web.get("/healthz", views.healthz, name="healthz"),
    web.get("/metrics", views.metrics, name="metrics"),
]
