"""The HTTP service's application factory: ``create_app(settings)``.

Routes in ``routes.py`` (handlers in ``views.py``), middlewares in ``middlewares.py``.
Start-up (``cleanup_ctx``) starts the ``Flow`` (the models loaded once, on the thread that
runs them, and the micro-batcher); shut-down stops it.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from inference.pipeline.common.decode import MAX_BYTES

from .domains import load_models
from .flow import Flow, ModelsFactory
from .keys import FLOW, METRICS, MODELS_FACTORY, SETTINGS
from .metrics import Metrics
from .middlewares import MIDDLEWARES, retry_after_header
from .routes import ROUTES
from .settings import Settings

log = logging.getLogger("inference.service")

CLIENT_MAX_SIZE = MAX_BYTES + 1024 * 1024  # the image plus the multipart envelope and small fields


async def flow_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the flow (load the models, run the batcher); stop it at shut-down."""
    m = app[METRICS]

    def on_model_batch(domain: str, n: int, seconds: float) -> None:
        m.batch_size.labels(domain).observe(n)
        m.batch_seconds.labels(domain).observe(seconds)
        m.waiting.set(app[FLOW].waiting)  # current also where another worker answers /metrics

    def on_drop(stage: str) -> None:
        m.dropped.labels(stage).inc()

    flow = Flow(app[SETTINGS], app.get(MODELS_FACTORY, load_models), on_model_batch, on_drop)
    await flow.start()
    app[FLOW] = flow
    for d in flow.models.chains:
        m.loaded.labels(d).set(1)
    log.info("models loaded: %s on %s (%s)", ", ".join(flow.models.chains), flow.models.device,
             flow.models.model_version())
    yield
    await flow.stop()


def create_app(settings: Settings | None = None, models_factory: ModelsFactory | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=MIDDLEWARES)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    if models_factory is not None:
        app[MODELS_FACTORY] = models_factory
    app.add_routes(ROUTES)
    app.on_response_prepare.append(retry_after_header)
    app.cleanup_ctx.append(flow_ctx)
    return app
