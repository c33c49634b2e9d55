"""Run the whole stack on loopback: local Bot API, inference service, fault proxy, bot.

Used by ``tests/bot/test_e2e.py`` and ``scripts/bench_bot.py`` (and handy by
hand). Nothing here talks to api.telegram.org.

* :func:`inference_service`: the REAL service (``inference.service.app.create_app``)
  with the trained weights when they are there; otherwise the same app with the
  stand-in scalp chain of ``tests/fakes/inference.py``, so the bot's tests still run
  on a checkout without weights. ``RunningService.real`` says which.
* :class:`ServiceProxy`: a small aiohttp proxy in front of the service that can
  take the service down (connection refused) and up again, answer 5xx, be slow,
  hold requests, and record the service's reported time of every answer.
* :func:`bot_settings`, :func:`running_bot`: the real bot application against them.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import build_application, running
from bot.settings import Settings, bot_environment
from localchat.botapi import LocalApiClient, RunningServer, serve
from localchat.botapi import Settings as LocalApiSettings
from tests.paths import WEIGHTS

__all__ = [
    "TOKEN",
    "LocalApiClient",
    "RunningService",
    "ServiceProxy",
    "bot_environment",
    "bot_settings",
    "inference_service",
    "local_telegram",
    "running_bot",
    "weights_ready",
]

TOKEN = "123456:E2E-token_for-the-local-bot-api-0000"
SCALP_WEIGHTS = ("scalp_yolo.pt", "scalp_unet.pt", "scalp_grader.json")
HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=10)
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=300)


def weights_ready() -> bool:
    """True when ``inference.service`` imports and every scalp weights file is there."""
    try:
        import inference.service.app  # noqa: F401
    except ImportError:
        return False
    return all((WEIGHTS / name).is_file() for name in SCALP_WEIGHTS)


# --- the inference service ---------------------------------------------------------------------


@dataclass
class RunningService:
    url: str
    real: bool
    runner: web.AppRunner


@contextlib.asynccontextmanager
async def inference_service(
    *, real: bool | None = None, api_key: str | None = None, threads: int = 0,
    max_queue: int = 64,
) -> AsyncIterator[RunningService]:
    """The inference service in this process on a free port (real weights when present)."""
    from inference.service.app import create_app
    from inference.service.settings import Settings as ServiceSettings
    from tests.fakes.inference import stand_in_models

    use_real = weights_ready() if real is None else real
    settings = ServiceSettings(
        weights=WEIGHTS, device="cpu", api_key=api_key, max_batch=8, max_wait_ms=10,
        max_queue=max_queue, threads=threads,
    )
    app = create_app(settings, models_factory=None if use_real else stand_in_models)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield RunningService(f"http://127.0.0.1:{port}", use_real, runner)
    finally:
        await runner.cleanup()


# --- the fault proxy ---------------------------------------------------------------------------


@dataclass
class ProxyRecord:
    """One /v1/analyze call as the proxy saw it."""

    domain: str
    status: int
    started: float
    upstream_ms: float
    service_ms: float | None


@dataclass
class ServiceProxy:
    """A toggle in front of the real service (see the module docstring)."""

    upstream: str
    host: str = "127.0.0.1"
    port: int = 0
    delay: float = 0.0
    records: list[ProxyRecord] = field(default_factory=list)
    _failures: list[tuple[int, str]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _held: asyncio.Event | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    upstream_models: tuple[str, ...] = ()  # the domains the service behind it loaded
    analyze_calls: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def up(self) -> bool:
        return self._runner is not None

    async def start(self) -> ServiceProxy:
        self._session = aiohttp.ClientSession(timeout=UPSTREAM_TIMEOUT)
        async with self._session.get(self.upstream + "/healthz", timeout=HEALTH_TIMEOUT) as r:
            self.upstream_models = tuple((await r.json()).get("models_loaded", []))
        await self.bring_up()
        return self

    async def close(self) -> None:
        self.release()
        await self.take_down()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> ServiceProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- toggles ---
    async def take_down(self) -> None:
        """The service goes away: new connections are refused, open ones are closed."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def bring_up(self) -> None:
        """Listen again, on the same port."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/analyze", self._analyze)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    def fail_next(self, count: int, status: int = 500, code: str = "internal") -> None:
        """The next ``count`` analyze calls answer ``status`` without reaching the service."""
        self._failures.extend([(status, code)] * count)

    def hold(self) -> None:
        """Analyze calls wait (after arriving) until :meth:`release`."""
        self._held = asyncio.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()
            self._held = None

    async def wait_for_calls(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` analyze calls have arrived in all."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: self.analyze_calls >= count), timeout
            )

    # --- handlers ---
    async def _analyze(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        form = await request.post()
        image = form.get("image")
        data = image.file.read() if isinstance(image, web.FileField) else bytes(str(image), "utf-8")
        domain = str(form.get("domain", "auto"))
        async with self._arrived:
            self.analyze_calls += 1
            self._arrived.notify_all()
        if self._held is not None:
            await self._held.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._failures:
            status, code = self._failures.pop(0)
            self.records.append(ProxyRecord(domain, status, started, 0.0, None))
            return web.json_response({"error": {"code": code, "message": "injected by the proxy"}},
                                     status=status)
        out = aiohttp.FormData()
        out.add_field("image", data, filename=getattr(image, "filename", "photo.jpg"),
                      content_type=getattr(image, "content_type", "image/jpeg"))
        out.add_field("domain", domain)
        headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
        t0 = time.perf_counter()
        assert self._session is not None
        async with self._session.post(self.upstream + "/v1/analyze", data=out,
                                      headers=headers) as upstream:
            body, status = await upstream.read(), upstream.status
            content_type = upstream.content_type
        upstream_ms = (time.perf_counter() - t0) * 1000
        service_ms = None
        if status == 200:
            answer = json.loads(body)
            service_ms = (answer.get("timings_ms") or {}).get("total")
        self.records.append(ProxyRecord(domain, status, started, upstream_ms, service_ms))
        return web.Response(body=body, status=status, content_type=content_type)

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=await request.read()) as upstream:
            return web.Response(body=await upstream.read(), status=upstream.status,
                                content_type=upstream.content_type)


# --- Telegram and the bot ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def local_telegram(*, resize_photos: bool = False) -> AsyncIterator[RunningServer]:
    """The local Bot API server for :data:`TOKEN` on a free port."""
    settings = LocalApiSettings(tokens=(TOKEN,), resize_photos=resize_photos)
    async with serve(settings) as server:
        yield server


def bot_settings(server: RunningServer, inference_url: str, db_path: Path | str,
                 **overrides: Any) -> Settings:
    """The bot's settings for the local server and service (fast retries for tests)."""
    values: dict[str, Any] = {
        "telegram_token": TOKEN,
        "api_base_url": server.base_url,
        "file_base_url": server.base_file_url,
        "inference_url": inference_url,
        "db_path": Path(db_path),
        "job_backoff_base": 0.2,
        "job_backoff_cap": 1.0,
        "job_max_attempts": 30,
        "reminder_sweep_interval": 3600.0,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[Any]:
    """The real bot application, polling the local server, for the duration of the block."""
    application = build_application(settings)
    async with running(application):
        yield application

