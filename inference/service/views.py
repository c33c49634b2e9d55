"""The request handlers: parse, call the flow, answer JSON.

``POST /v1/analyze``
    multipart/form-data with a part ``image`` (JPEG, PNG or WebP) and an optional part
    ``domain`` (``auto`` default, ``scalp``, ``face``). When ``INFERENCE_API_KEY`` is set,
    requires ``Authorization: Bearer <key>`` (else 401). Answers 200 with the JSON of
    ``encode.encode``, also when the photo fails the quality gate (``quality.ok`` false,
    ``grade`` null: a valid request; the bot shows retake advice). Bad input answers 4xx
    with ``{"error": {"code", "message"}}``: codes in ``DECODE_STATUS`` and
    ``missing_image``, ``bad_domain``, ``domain_unavailable``, ``bad_request``,
    ``unauthorized``; ``busy`` (503, with ``Retry-After``) when too many photos are waiting.
    The work of a client that disconnects is dropped before its decode and before its model
    run (``inference_dropped_requests_total``; the 499 ``client_gone`` answer reaches no one).
``GET /healthz``
    models loaded, device, weights hashes, the file that runs each network (an int8 twin, a
    float export, or the PyTorch weights), queue length, and, with several worker processes
    (``workers.py``), their number and the pid that answered (no key needed).
``GET /metrics``
    Prometheus text (no key needed; see ``metrics.py``), summed over the worker processes.
"""
from __future__ import annotations

import asyncio
import os

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from inference.pipeline.common.decode import DecodeError

from .batching import Busy, Stopped
from .flow import ClientGone, DomainUnavailable
from .keys import FLOW, METRICS, SETTINGS
from .middlewares import ApiError
from .predict import REQUEST_DOMAINS

# DecodeError.code -> HTTP status
DECODE_STATUS = {
    "empty": 400,
    "not_an_image": 415,
    "unsupported_format": 415,
    "truncated": 422,
    "too_many_pixels": 413,
    "too_large": 413,
}


async def read_form(request: web.Request) -> tuple[bytes, str]:
    """The photo's bytes and the requested domain from a multipart form."""
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "missing_image", "send multipart/form-data with a part named 'image'")
    try:
        form = await request.post()
    except web.HTTPException:
        raise
    except (ValueError, UnicodeDecodeError, HttpProcessingError) as e:  # a broken multipart body
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


def connected(request: web.Request) -> bool:
    """Whether the client of ``request`` is still there to read its answer."""
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def analyze(request: web.Request) -> web.Response:
    data, domain = await read_form(request)
    try:
        result = await request.app[FLOW].analyze(data, domain, alive=lambda: connected(request))
    except ClientGone as e:  # counted by the flow (inference_dropped_requests_total)
        raise ApiError(499, "client_gone", "the client closed the connection; the photo was not analysed") from e
    except DomainUnavailable as e:
        raise ApiError(400, "domain_unavailable", f"this server has no {domain} models yet") from e
    except DecodeError as e:
        raise ApiError(DECODE_STATUS[e.code], e.code, e.message) from e
    except Busy as e:
        raise ApiError(503, "busy", "too many photos are waiting; try again in a moment") from e
    except Stopped as e:
        raise ApiError(503, "busy", "the service is shutting down") from e
    m = request.app[METRICS]
    for r in result["quality"]["reasons"]:
        m.rejections.labels(r).inc()
    if result["grade"] is not None:
        m.grades.labels(result["domain"], result["grade"]).inc()
    return web.json_response(result)


async def healthz(request: web.Request) -> web.Response:
    flow = request.app[FLOW]
    models = flow.models
    return web.json_response(
        {
            "status": "ok",
            "models_loaded": sorted(models.chains),
            "device": models.device,
            "weights": models.hashes,
            "running": models.running,  # e.g. scalp_yolo.pt -> scalp_yolo.int8.onnx on the CPU
            "model_version": models.model_version(),
            "queue_waiting": flow.waiting,
            "workers": request.app[SETTINGS].workers,  # processes sharing the port
            "worker_pid": os.getpid(),  # the one that answered
        }
    )


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    flow = request.app[FLOW]
    m.waiting.set(flow.waiting)
    m.decode_reserved.set(flow.budget.in_use)
    m.decode_waiting.set(flow.budget.waiting)
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})
