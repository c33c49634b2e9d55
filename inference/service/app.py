"""The HTTP service: ``create_app(settings)``, run by ``python -m inference serve``.

Routes (``ROUTES``):

``POST /v1/analyze``
    multipart/form-data with a part ``image`` (JPEG, PNG or WebP) and an
    optional part ``domain`` (``auto`` default, ``scalp``, ``face``). When
    ``INFERENCE_API_KEY`` is set, requires ``Authorization: Bearer <key>``
    (else 401). Answers 200 with the JSON of ``Runner.encode``, also when the
    photo fails the quality gate (``quality.ok`` false, ``grade`` null: a valid
    request; the bot shows retake advice). Bad input answers 4xx with
    ``{"error": {"code", "message"}}``: codes in ``DECODE_STATUS`` and
    ``missing_image``, ``bad_domain``, ``domain_unavailable``, ``bad_request``,
    ``unauthorized``; ``busy`` (503) when too many photos are waiting.
``GET /healthz``
    models loaded, device, weights hashes, the file that runs each network (an int8
    twin, a float export, or the PyTorch weights), queue length, and, with several
    worker processes (``workers.py``), their number and the pid that answered (no key
    needed).
``GET /metrics``
    Prometheus text (no key needed; see ``metrics.py``), summed over the worker
    processes when there are several.

Start-up (``cleanup_ctx``) loads the models once, in a thread, and starts the
micro-batcher; shut-down stops it. The models run on one worker thread, with
concurrent requests grouped into one forward pass per model (``batching.py``);
decoding and drawing run on a pool of ``io_threads`` threads (bounding the
memory of large uploads being decoded at once); the event loop only parses
requests.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from inference.pipeline.decode import MAX_BYTES, DecodeError

from .batching import Busy, MicroBatcher, Stopped
from .metrics import Metrics
from .runner import REQUEST_DOMAINS, Job, Prediction, Runner
from .settings import Settings

log = logging.getLogger("inference.service")

CLIENT_MAX_SIZE = MAX_BYTES + 1024 * 1024  # the image plus the multipart envelope and small fields

# DecodeError.code -> HTTP status
DECODE_STATUS = {
    "empty": 400,
    "not_an_image": 415,
    "unsupported_format": 415,
    "truncated": 422,
    "too_many_pixels": 413,
    "too_large": 413,
}
# aiohttp's own HTTP errors -> error code
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "busy",
}

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
RUNNER = web.AppKey("runner", Runner)
BATCHER = web.AppKey("batcher", MicroBatcher)
POOL = web.AppKey("pool", ThreadPoolExecutor)  # decoding and drawing
# for tests and embedding: build the Runner yourself instead of loading from settings.weights
RUNNER_FACTORY = web.AppKey("runner_factory", Callable[[Settings], Runner])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


# -- middlewares (outermost first) -------------------------------------------


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    t0 = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    finally:
        m = request.app[METRICS]
        m.requests.labels(route, str(status)).inc()
        m.latency.labels(route).observe(time.perf_counter() - t0)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    m = request.app[METRICS]
    try:
        return await handler(request)
    except ApiError as e:
        m.errors.labels(e.code).inc()
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return error_response(e.status, e.code, e.message, headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = HTTP_CODES.get(e.status, "http_error")
        m.errors.labels(code).inc()
        return error_response(e.status, code, e.reason or code)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        m.errors.labels("internal").inc()
        return error_response(500, "internal", "internal error; the photo was not analysed")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.app[SETTINGS].api_key
    if key and request.path.startswith("/v1/"):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token")
    return await handler(request)


# -- handlers ----------------------------------------------------------------


async def _read_form(request: web.Request) -> tuple[bytes, str]:
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "missing_image", "send multipart/form-data with a part named 'image'")
    try:
        form = await request.post()
    except web.HTTPException:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "bad_request", f"could not read the form: {e}") from e
    image = form.get("image")
    if image is None:
        raise ApiError(400, "missing_image", "the form has no part named 'image'")
    if isinstance(image, web.FileField):
        data = await asyncio.to_thread(image.file.read)
        image.file.close()
    elif isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    else:
        data = str(image).encode("utf-8", "surrogateescape")
    domain = form.get("domain", "auto")
    if isinstance(domain, (bytes, bytearray)):
        domain = domain.decode("ascii", "replace")
    if not isinstance(domain, str) or domain.strip().lower() not in REQUEST_DOMAINS:
        raise ApiError(400, "bad_domain", f"domain must be one of {', '.join(REQUEST_DOMAINS)}")
    return data, domain.strip().lower()


async def analyze(request: web.Request) -> web.Response:
    t0 = time.perf_counter()
    runner, batcher, m = request.app[RUNNER], request.app[BATCHER], request.app[METRICS]
    data, domain = await _read_form(request)
    if not runner.available(domain):
        raise ApiError(400, "domain_unavailable", f"this server has no {domain} models yet")
    loop, pool = asyncio.get_running_loop(), request.app[POOL]
    batcher.expect()  # a photo is on its way: a batch being formed may wait for it
    try:
        img, report, timings = await loop.run_in_executor(pool, runner.decode, data)
    except DecodeError as e:
        batcher.unexpect()
        raise ApiError(DECODE_STATUS[e.code], e.code, e.message) from e
    except BaseException:
        batcher.unexpect()
        raise
    pred: Prediction | None = None
    if not report.ok:
        batcher.unexpect()
    else:
        t1 = time.perf_counter()
        try:
            pred = await batcher.submit(Job(img.rgb, domain), expected=True)
        except Busy as e:
            raise ApiError(503, "busy", "too many photos are waiting; try again in a moment") from e
        except Stopped as e:
            raise ApiError(503, "busy", "the service is shutting down") from e
        timings["queue"] = max(0.0, (time.perf_counter() - t1) * 1000 - pred.predict_ms)
        timings["predict"] = pred.predict_ms
    result = await loop.run_in_executor(pool, functools.partial(runner.encode, img, report, pred, timings, domain))
    result["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000, 1)
    for r in result["quality"]["reasons"]:
        m.rejections.labels(r).inc()
    if result["grade"] is not None:
        m.grades.labels(result["domain"], result["grade"]).inc()
    return web.json_response(result)


async def healthz(request: web.Request) -> web.Response:
    runner, batcher = request.app[RUNNER], request.app[BATCHER]
    return web.json_response(
        {
            "status": "ok",
            "models_loaded": sorted(runner.models),
            "device": runner.device,
            "weights": runner.hashes,
            "running": runner.running,  # e.g. scalp_yolo.pt -> scalp_yolo.int8.onnx on the CPU
            "model_version": runner.model_version(),
            "queue_waiting": batcher.waiting,
            "workers": request.app[SETTINGS].workers,  # processes sharing the port
            "worker_pid": os.getpid(),  # the one that answered
        }
    )


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    m.waiting.set(request.app[BATCHER].waiting)
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})


ROUTES = [
    web.post("/v1/analyze", analyze, name="analyze"),
    web.get("/healthz", healthz, name="healthz"),
    web.get("/metrics", metrics, name="metrics"),
]


# -- lifecycle -----------------------------------------------------------------


async def models_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the models once (in a thread), run the batcher, stop it at shut-down."""
    settings, m = app[SETTINGS], app[METRICS]
    factory = app.get(RUNNER_FACTORY, Runner.setup)
    # one thread owns the models: it loads them and runs every batch. (Loading them in a
    # thread of its own left a second OpenMP pool alive that slowed each forward pass by
    # about a third on a 2-core machine.)
    model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="models")
    runner = await asyncio.get_running_loop().run_in_executor(model_thread, factory, settings)

    def on_model_batch(domain: str, n: int, seconds: float) -> None:
        m.batch_size.labels(domain).observe(n)
        m.batch_seconds.labels(domain).observe(seconds)
        m.waiting.set(app[BATCHER].waiting)  # current also where another worker answers /metrics

    runner.on_model_batch = on_model_batch
    for d in runner.models:
        m.loaded.labels(d).set(1)
    app[RUNNER] = runner
    app[BATCHER] = batcher = MicroBatcher(
        runner.predict,
        max_batch=settings.max_batch,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        name="models",
        executor=model_thread,
    )
    app[POOL] = pool = ThreadPoolExecutor(settings.io_threads, thread_name_prefix="decode-draw")
    log.info("models loaded: %s on %s (%s)", ", ".join(runner.models), runner.device, runner.model_version())
    await batcher.start()
    yield
    await batcher.stop()
    model_thread.shutdown(wait=True)
    pool.shutdown(wait=True)


def create_app(settings: Settings | None = None, runner_factory: Callable[[Settings], Runner] | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(
        client_max_size=CLIENT_MAX_SIZE,
        middlewares=[metrics_middleware, error_middleware, auth_middleware],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    if runner_factory is not None:
        app[RUNNER_FACTORY] = runner_factory
    app.add_routes(ROUTES)
    app.cleanup_ctx.append(models_ctx)
    return app


def limit_malloc_arenas(n: int = 2) -> bool:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core) and
    rarely returns their memory; the decode/draw pool and the model thread then hold
    hundreds of MB after a burst. Two arenas keep the service's RSS near its working set
    (``MALLOC_ARENA_MAX`` in the environment still wins). Linux/glibc only; else a no-op."""
    import ctypes
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-8, n))  # M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def serve(settings: Settings) -> int:
    """Serve until SIGTERM / SIGINT: one process, or ``settings.workers`` processes on the
    port (``workers.py``). Returns the exit status."""
    if settings.workers > 1:
        from .workers import serve_workers

        return serve_workers(settings, settings.workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_malloc_arenas()
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None)
    return 0
