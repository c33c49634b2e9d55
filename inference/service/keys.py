"""The typed keys of the service's ``web.Application`` (``web.AppKey``)."""
from __future__ import annotations

from aiohttp import web

from .flow import Flow, ModelsFactory
from .metrics import Metrics
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
FLOW = web.AppKey("flow", Flow)
# for tests and embedding: build the models yourself instead of loading them from settings.weights
MODELS_FACTORY: web.AppKey[ModelsFactory] = web.AppKey("models_factory")
