"""The service's middlewares (outermost first: metrics, errors, auth) and its error answers.

Every error answer is ``{"error": {"code", "message"}}`` with a stable code; an
unexpected exception is logged and answered 500 ``internal``. Every 503 carries
``Retry-After`` (``retry_after_header``, a response signal: also aiohttp's own answers).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .keys import METRICS, SETTINGS

log = logging.getLogger("inference.service")

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

# a 503's Retry-After, whole seconds: a batch takes a fraction of a second, so the queue has
# moved by then; a client that meets 503 again backs off further itself (the bot does)
RETRY_AFTER_S = 2

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    t0 = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except asyncio.CancelledError:  # aiohttp cancels the handler of a client that went away
        status = 499
        raise
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
        # the header as sent: aiohttp decodes it as UTF-8 with surrogate escapes, so a byte
        # that is not UTF-8 (or not ASCII) compares as itself instead of failing to encode
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        sent = token.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent, key.encode("utf-8")):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token")
    return await handler(request)


async def retry_after_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a 503 tells the client when to try again."""
    if response.status == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)


MIDDLEWARES = [metrics_middleware, error_middleware, auth_middleware]
