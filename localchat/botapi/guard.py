"""Who may talk to the local server: Host and Origin checks, the control secret, JSON bodies.

The server listens on loopback for the person at this machine and the tests; a
web page that person visits must not be able to drive it. So, before any route:

* ``Host`` must be a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``, any port)
  or a name the server was configured with (:attr:`Settings.allowed_hosts`, the
  address given to ``serve``): a DNS-rebound page names its own domain;
* ``Origin``, when a browser sends one, must be the server's own origin
  (``http://`` + ``Host``): other pages' fetches and form posts carry theirs;
* ``Sec-Fetch-Site``, when sent, must be ``same-origin`` or ``none`` (typed or
  opened by the person), except for the web chat page itself, which may be
  followed from a link;
* on ``/_control/``, ``X-Control-Secret`` must carry the control secret (compared
  with :func:`hmac.compare_digest`), and a request body must be JSON
  (``multipart/form-data`` only on the upload endpoints, for the file bytes).

Refusals are 403 (415 for another body type) with
``{"ok": false, "error_code": 403, "description": "Forbidden: ...", "error": "..."}``,
readable both as a Bot API error and as a control API error.

The control secret is :attr:`Settings.control_secret` or, when none is given, a random
one made when the app is created. Only a random one is handed out, by
``GET /_control/secret``, to callers that pass the checks above: the web chat page
(its own origin) and :class:`~localchat.botapi.client.LocalApiClient` on this
machine. A cross-origin page can neither read that answer (no CORS headers,
``Cross-Origin-Resource-Policy: same-origin``) nor reach it through a rebound name
(the Host check). A secret given explicitly is never handed out: pass it to the
client (``control_secret=``) and open the page as ``/chat/#secret=...``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from aiohttp import hdrs, web
from yarl import URL

from .params import json_response
from .protocol import CONTROL_SECRET_HEADER
from .state import Settings

__all__ = [
    "ACCESS_KEY",
    "CONTROL_PREFIX",
    "LOOPBACK_HOSTS",
    "SECRET_PATH",
    "UPLOAD_PATHS",
    "WILDCARD_HOSTS",
    "Access",
    "access_for",
    "control_secret",
    "is_loopback",
    "request_guard",
    "secure_headers",
]

CONTROL_PREFIX = "/_control/"
SECRET_PATH = CONTROL_PREFIX + "secret"
"""``GET``: the random control secret, for the web chat page and LocalApiClient."""
FILES_PREFIX = CONTROL_PREFIX + "files/"
"""``GET /_control/files/{file_id}`` needs no secret: the random file_id is the key
(the page shows them with ``<img src>``, ``<video src>`` and links)."""
UPLOAD_PATHS = frozenset(
    CONTROL_PREFIX + "updates/" + kind
    for kind in ("photo", "document", "video", "voice", "audio", "sticker", "animation")
)
"""Control endpoints that also take ``multipart/form-data`` (the file's bytes)."""
JSON_TYPE = "application/json"
MULTIPART_TYPE = "multipart/form-data"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
PAGE_PATHS = ("/chat/", "/chat")
"""The web chat page and its files: Host and Origin are checked, Sec-Fetch-Site is not."""
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
SECRET_BYTES = 32
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
"""Added to every answer: no other site may embed, frame or sniff what this server says."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Access:
    """The running server's access rules."""

    secret: str
    """The control secret every ``/_control/`` call must send."""
    shared: bool
    """The secret was made here (not given): ``GET /_control/secret`` hands it out."""
    hosts: frozenset[str]
    """Host names accepted, lower case, without port or brackets."""

    def secret_matches(self, given: str) -> bool:
        """Constant-time comparison with the control secret."""
        return hmac.compare_digest(given.encode(), self.secret.encode())


ACCESS_KEY: web.AppKey[Access] = web.AppKey("botapi_access", Access)


def is_loopback(host: str) -> bool:
    """``host`` (no port, no brackets) is a loopback name."""
    return host.lower() in LOOPBACK_HOSTS


def access_for(settings: Settings) -> Access:
    """The rules for ``settings``: its secret (or a random one) and the accepted Host names."""
    given = settings.control_secret
    hosts = LOOPBACK_HOSTS | {
        _bare(host) for host in settings.allowed_hosts if _bare(host) not in WILDCARD_HOSTS
    }
    return Access(
        secret=given or secrets.token_urlsafe(SECRET_BYTES),
        shared=not given,
        hosts=frozenset(hosts),
    )


def _bare(host: str) -> str:
    return host.strip().strip("[]").lower()


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` / ``[v6][:port]`` → (name, port); ``None`` if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        name, _, port_text = value.partition(":")
    if not name:
        return None
    if not port_text:
        return name, None
    if not port_text.isdigit():
        return None
    return name, int(port_text)


def _refuse(status: int, error: str) -> web.Response:
    prefix = "Forbidden" if status == HTTPStatus.FORBIDDEN else HTTPStatus(status).phrase
    body = {
        "ok": False,
        "error_code": int(status),
        "description": f"{prefix}: {error}",
        "error": error,
    }
    return json_response(body, status=status)


def _origin_refusal(request: web.Request, access: Access) -> str | None:
    """Why the Host / Origin / Sec-Fetch-Site headers are refused, or ``None``."""
    host_header = request.headers.get(hdrs.HOST, "")
    host = _split_host(host_header)
    if host is None or host[0] not in access.hosts:
        return f"Host {host_header!r} is not this server (only loopback names are accepted)"
    default_port = 443 if request.scheme == "https" else 80
    own = (request.scheme, host[0], host[1] if host[1] is not None else default_port)
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None:
        try:
            url = URL(origin.strip())
            theirs = (url.scheme.lower(), _bare(url.raw_host or ""), url.port)
        except ValueError:
            theirs = None
        if theirs != own:
            return f"cross-origin request from {origin!r}"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in TRUSTED_FETCH_SITES and not _is_page(request):
        return f"cross-site request (Sec-Fetch-Site: {site})"
    return None


def _is_page(request: web.Request) -> bool:
    path = request.path
    return request.method in ("GET", "HEAD") and (path == "/" or path.startswith(PAGE_PATHS))


def _control_refusal(request: web.Request, access: Access) -> web.Response | None:
    """The secret and body-type checks of a ``/_control/`` call."""
    path = request.path
    public = request.method in ("GET", "HEAD") and (
        path == SECRET_PATH or path.startswith(FILES_PREFIX)
    )
    if not public and not access.secret_matches(request.headers.get(CONTROL_SECRET_HEADER, "")):
        return _refuse(HTTPStatus.FORBIDDEN, "wrong or missing control secret")
    if request.body_exists or hdrs.CONTENT_TYPE in request.headers:
        content_type = request.content_type
        if content_type != JSON_TYPE and not (
            content_type == MULTIPART_TYPE and path in UPLOAD_PATHS
        ):
            return _refuse(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"control API bodies must be {JSON_TYPE}"
                + (f" (or {MULTIPART_TYPE} with the file)" if path in UPLOAD_PATHS else ""),
            )
    return None


@web.middleware
async def request_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route: Host, Origin and Sec-Fetch-Site; ``/_control/``: secret and body type."""
    access = request.app[ACCESS_KEY]
    reason = _origin_refusal(request, access)
    if reason is not None:
        return _refuse(HTTPStatus.FORBIDDEN, reason)
    if request.path.startswith(CONTROL_PREFIX):
        refusal = _control_refusal(request, access)
        if refusal is not None:
            return refusal
    return await handler(request)


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: :data:`SECURITY_HEADERS` on every answer."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def control_secret(request: web.Request) -> web.Response:
    """``GET /_control/secret``: the random control secret (403 if it was given explicitly)."""
    access = request.app[ACCESS_KEY]
    if not access.shared:
        return _refuse(
            HTTPStatus.FORBIDDEN,
            f"the control secret was given at start: send it in {CONTROL_SECRET_HEADER}",
        )
    response = json_response({"ok": True, "secret": access.secret, "header": CONTROL_SECRET_HEADER})
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response
