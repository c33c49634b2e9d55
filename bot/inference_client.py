"""HTTP client of the inference service (``POST /v1/analyze``, ``GET /healthz``).

One :class:`aiohttp.ClientSession` per client, opened with the application and
closed with it::

    client = InferenceClient("http://127.0.0.1:8090", api_key=None)
    await client.start()
    try:
        result = await client.analyze(jpeg_bytes, domain="auto")
    except RetryableInferenceError:   # down, slow, 5xx, 503 busy, 429: try again later
        ...
    except FinalInferenceError as e:  # 4xx: this photo will never work (e.code says why)
        ...
    await client.close()

The answer becomes an :class:`AnalysisResult` (frozen dataclasses, the
annotated JPEG already decoded from base64). A 200 whose body does not match
the contract counts as a service fault (retryable): the photo is not to blame.
"""
from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import aiohttp

__all__ = [
    "AnalysisResult",
    "FinalInferenceError",
    "InferenceClient",
    "InferenceError",
    "Quality",
    "Region",
    "RetryableInferenceError",
]

log = logging.getLogger(__name__)

ANALYZE_PATH = "/v1/analyze"
HEALTH_PATH = "/healthz"
DOMAINS = ("scalp", "face")
REQUEST_DOMAINS = ("auto", *DOMAINS)
GRADES = ("LOW", "MIDDLE", "HIGH", "UNCERTAIN")
#: Statuses worth retrying: the service is overloaded or asks us to slow down.
RETRYABLE_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.REQUEST_TIMEOUT})
CONNECT_TIMEOUT = 5.0
HEALTH_TIMEOUT = 5.0
#: Connections to the service; the bot's job concurrency stays below it.
CONNECTION_LIMIT = 32
MAX_ERROR_BODY = 2000
#: x1, y1, x2, y2
BOX_VALUES = 4
DEFAULT_TIMEOUT = 60.0


class InferenceError(Exception):
    """The analysis did not produce a result. ``retryable`` says whether to try again."""

    retryable = False

    def __init__(self, code: str, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


class RetryableInferenceError(InferenceError):
    """Connection refused or reset, timeout, 5xx, 503 busy, 429: the photo may work later."""

    retryable = True


class FinalInferenceError(InferenceError):
    """4xx: the service will never analyse this photo (bad image, unavailable domain...)."""


@dataclass(frozen=True, slots=True)
class Quality:
    ok: bool
    reasons: tuple[str, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Region:
    box: tuple[float, float, float, float]
    cls: str
    score: float
    mask_area: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """One photo's answer. ``grade`` is None when the photo failed the quality gate."""

    domain: str | None
    grade: str | None
    confidence: float | None
    quality: Quality
    regions: tuple[Region, ...]
    measurements: Mapping[str, Any]
    model_version: str
    timings_ms: Mapping[str, float]
    annotated_jpeg: bytes | None
    routing: str | None = None
    #: The domains the photo could be meant for (the chosen one first); two: ask the user.
    could_be: tuple[str, ...] = ()

    @property
    def graded(self) -> bool:
        """True when there is a grade (the quality gate passed)."""
        return self.grade is not None and self.quality.ok

    @property
    def service_ms(self) -> float | None:
        """The service's own time for this photo (``timings_ms.total``), if reported."""
        total = self.timings_ms.get("total")
        return float(total) if isinstance(total, int | float) else None

    @classmethod
    def from_json(cls, body: Any) -> AnalysisResult:
        """Parse the 200 body; a body that breaks the contract raises ``ValueError``."""
        if not isinstance(body, Mapping):
            raise ValueError("the answer is not a JSON object")
        quality_raw = body.get("quality") or {}
        if not isinstance(quality_raw, Mapping) or not isinstance(quality_raw.get("ok"), bool):
            raise ValueError("quality.ok is missing")
        quality = Quality(
            ok=quality_raw["ok"],
            reasons=tuple(str(r) for r in quality_raw.get("reasons") or ()),
            metrics=dict(quality_raw.get("metrics") or {}),
        )
        grade = body.get("grade")
        if grade is not None and grade not in GRADES:
            raise ValueError(f"unknown grade {grade!r}")
        domain = body.get("domain")
        if domain is not None and domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}")
        if grade is not None and domain is None:
            raise ValueError("a graded answer needs its domain")
        confidence = body.get("confidence")
        if confidence is not None:
            confidence = min(1.0, max(0.0, float(confidence)))
        elif grade is not None:
            raise ValueError("a graded answer needs its confidence")
        jpeg = body.get("annotated_jpeg")
        try:
            annotated = base64.b64decode(jpeg, validate=True) if jpeg else None
        except (binascii.Error, TypeError) as exc:
            raise ValueError("annotated_jpeg is not base64") from exc
        regions = tuple(
            Region(
                box=tuple(float(v) for v in r.get("box", ()))[:BOX_VALUES],  # type: ignore[arg-type]
                cls=str(r.get("class", "")),
                score=float(r.get("score") or 0.0),
                mask_area=dict(r.get("mask_area") or {}),
            )
            for r in body.get("regions") or ()
            if isinstance(r, Mapping)
        )
        timings = {
            str(k): float(v)
            for k, v in (body.get("timings_ms") or {}).items()
            if isinstance(v, int | float)
        }
        return cls(
            domain=domain,
            grade=grade,
            confidence=confidence,
            quality=quality,
            regions=regions,
            measurements=dict(body.get("measurements") or {}),
            model_version=str(body.get("model_version") or ""),
            timings_ms=timings,
            annotated_jpeg=annotated,
            routing=body.get("routing"),
            could_be=tuple(str(d) for d in body.get("could_be") or () if d in DOMAINS),
        )


class InferenceClient:
    """Async client of one inference service (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.base_url!r}, api_key={'<set>' if self._api_key else None})"

    async def start(self) -> None:
        """Open the HTTP session (once)."""
        if self._session is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> InferenceClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("InferenceClient.start() was not called")
        return self._session

    async def analyze(
        self, image: bytes, domain: str = "auto", *, filename: str = "photo.jpg",
        content_type: str = "image/jpeg",
    ) -> AnalysisResult:
        """Analyse one photo. Raises :class:`RetryableInferenceError` or :class:`FinalInferenceError`."""
        if domain not in REQUEST_DOMAINS:
            raise ValueError(f"domain must be one of {REQUEST_DOMAINS}, got {domain!r}")
        form = aiohttp.FormData()
        form.add_field("image", image, filename=filename, content_type=content_type)
        form.add_field("domain", domain)
        try:
            async with self.session.post(self.base_url + ANALYZE_PATH, data=form) as response:
                if response.status == HTTPStatus.OK:
                    try:
                        body = await response.json(content_type=None)
                        return AnalysisResult.from_json(body)
                    except ValueError as exc:  # includes JSON decode errors
                        raise RetryableInferenceError("bad_answer", str(exc), response.status) from exc
                raise await _error_from(response)
        except InferenceError:
            raise
        except TimeoutError as exc:
            raise RetryableInferenceError("timeout", "the service did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise RetryableInferenceError("unreachable", f"{type(exc).__name__}: {exc}") from exc

    async def health(self) -> dict[str, Any]:
        """``GET /healthz`` (raises RetryableInferenceError when the service is not up)."""
        try:
            async with self.session.get(
                self.base_url + HEALTH_PATH, timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)
            ) as response:
                if response.status != HTTPStatus.OK:
                    raise await _error_from(response)
                return await response.json(content_type=None)
        except InferenceError:
            raise
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RetryableInferenceError("unreachable", f"{type(exc).__name__}: {exc}") from exc


async def _error_from(response: aiohttp.ClientResponse) -> InferenceError:
    """The error for a non-200 answer: 5xx, 408 and 429 retryable, other 4xx final."""
    code, message = f"http_{response.status}", response.reason or ""
    try:
        body = await response.json(content_type=None)
        error = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(error, Mapping):
            code = str(error.get("code") or code)
            message = str(error.get("message") or message)
    except (ValueError, aiohttp.ClientError):
        pass
    retry_after = _retry_after(response.headers.get("Retry-After"))
    status = response.status
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR or status in RETRYABLE_STATUSES:
        return RetryableInferenceError(code, message[:MAX_ERROR_BODY], status, retry_after)
    return FinalInferenceError(code, message[:MAX_ERROR_BODY], status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
