"""The service under hostile or careless clients, over real HTTP on loopback (aiohttp's test
server, the real decode, the stand-in scalp model):

* large decodes share one budget: the issue's 16-bit 7000 x 7000 PNG is refused from its
  header, eight large accepted files queue (never two at once in a budget sized for one)
  while an ordinary photo answers, and a file larger than the whole budget is refused;
* a non-ASCII ``Authorization`` header answers 401, every 503 carries ``Retry-After`` (and
  the bot's client reads it);
* a client that disconnects before its decode or its model run is dropped, not computed.

No timing assertions: the order of the answers and the budget's own accounting say it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import threading

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from inference.pipeline.common.decode import inspect
from inference.service.app import create_app
from inference.service.keys import FLOW
from inference.service.middlewares import RETRY_AFTER_S
from inference.service.settings import Settings
from tests.fakes.inference import StandInScalp, stand_in_models
from tests.inference.pipeline.test_decode_memory import png16
from tests.inference.service.test_service import form, metric_samples, noise_photo, post
from tests.paths import WEIGHTS

MB = 1024 * 1024
WAIT_S = 60.0  # a guard against a hang, never a measured time


@pytest.fixture
def settings() -> Settings:
    return Settings(weights=WEIGHTS, device="cpu", max_batch=8, max_wait_ms=5, max_queue=16)


def app_with(settings: Settings, chain: StandInScalp | None = None, **changes) -> web.Application:
    chain = chain or StandInScalp("MIDDLE")
    return create_app(dataclasses.replace(settings, **changes), models_factory=lambda s: stand_in_models(s, chain))


async def until(condition, what: str) -> None:
    """Wait for ``condition()`` (polling the event loop), failing after ``WAIT_S``."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), WAIT_S)
    except TimeoutError:
        pytest.fail(f"never happened: {what}")


# -- the decode budget ----------------------------------------------------------------------


async def test_the_issues_16_bit_png_is_refused_before_any_decode(aiohttp_client, settings):
    model = StandInScalp("MIDDLE")
    client = await aiohttp_client(app_with(settings, model))
    data = png16(7000, 7000)
    assert len(data) < 200_000
    st, body = await post(client, data)
    assert st == 413 and body["error"]["code"] == "too_many_pixels", body
    assert "16-bit PNG" in body["error"]["message"]
    flow = client.server.app[FLOW]
    assert flow.budget.peak == 0 and model.calls == []  # nothing was reserved, decoded or run


async def test_large_decodes_queue_in_the_budget_and_an_ordinary_photo_answers(aiohttp_client, settings):
    hostile = png16(3000, 3000)  # accepted: 9 MP of 16-bit grey, ~100 KB sent
    cost = inspect(hostile).cost
    budget_mb = math.ceil(1.5 * cost / MB)  # room for one of them (and an ordinary photo beside it)
    model = StandInScalp("MIDDLE")
    client = await aiohttp_client(app_with(settings, model, decode_budget_mb=budget_mb))
    flow = client.server.app[FLOW]
    done: list[str] = []

    async def send(name: str, data: bytes):
        result = await post(client, data)
        done.append(name)
        return result

    hostiles = [asyncio.create_task(send("hostile", hostile)) for _ in range(8)]
    await until(lambda: flow.budget.waiting >= 6, "the large decodes queue for the budget")
    st, body = await asyncio.wait_for(send("ordinary", noise_photo()), WAIT_S)
    assert st == 200 and body["grade"] == "MIDDLE", body
    results = await asyncio.wait_for(asyncio.gather(*hostiles), WAIT_S)
    for st, body in results:  # decoded (reduced) and gated: flat grey is no photo to grade
        assert st == 200 and body["quality"]["ok"] is False and body["image"]["original_width"] == 3000, body
    assert done[-1] == "hostile" and done.count("hostile") == 8  # the ordinary photo did not wait for them all
    assert flow.budget.peak < 2 * cost  # never two large decodes at once
    assert flow.budget.waited >= 6 and flow.budget.in_use == 0
    assert model.calls == [1]  # only the ordinary photo reached the model


async def test_a_file_larger_than_the_whole_budget_is_refused_not_left_waiting(aiohttp_client, settings):
    client = await aiohttp_client(app_with(settings, decode_budget_mb=8))
    st, body = await asyncio.wait_for(post(client, noise_photo()), WAIT_S)
    assert st == 413 and body["error"]["code"] == "too_many_pixels" and "decode budget" in body["error"]["message"]
    assert client.server.app[FLOW].budget.in_use == 0


# -- HTTP ----------------------------------------------------------------------------------


async def raw_request(client, head: bytes, body: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A request written byte for byte to the test server (headers no client library would send)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + b"\r\n" + body)
    await writer.drain()
    return reader, writer


async def raw_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    raw = await asyncio.wait_for(reader.read(), WAIT_S)  # Connection: close: the answer, then EOF
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def multipart(data: bytes) -> tuple[bytes, bytes]:
    """(the request's head lines for a multipart upload of ``data``, its body)."""
    boundary = b"hardening-test-boundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n")
    head = (b"POST /v1/analyze HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=" + boundary
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n")
    return head, body


@pytest.mark.parametrize("token", [b"\xff\xfe", "비밀".encode(), "s3cret-key\u00e9".encode("latin-1")],
                         ids=["not-utf8", "korean", "latin1"])
async def test_a_non_ascii_authorization_header_is_401(aiohttp_client, settings, token):
    client = await aiohttp_client(app_with(settings, api_key="s3cret-key"))
    head = (b"POST /v1/analyze HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + token
            + b"\r\nContent-Length: 0\r\nConnection: close\r\n")
    reader, writer = await raw_request(client, head)
    try:
        status, headers, body = await raw_answer(reader)
    finally:
        writer.close()
    assert status == 401 and body["error"]["code"] == "unauthorized", body
    assert headers.get("www-authenticate") == "Bearer"
    st, _ = await post(client, noise_photo(), headers={"Authorization": "Bearer s3cret-key"})
    assert st == 200


async def test_every_503_carries_retry_after(aiohttp_client, settings):
    async def unavailable(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable()

    app = app_with(settings, StandInScalp("MIDDLE", delay=0.3), max_batch=1, max_wait_ms=0, max_queue=1)
    app.router.add_get("/unavailable", unavailable)
    client = await aiohttp_client(app)

    async def answer():
        resp = await client.post("/v1/analyze", data=form(noise_photo()))
        return resp.status, resp.headers.get("Retry-After"), await resp.json()

    results = await asyncio.gather(*(answer() for _ in range(5)))
    busy = [(h, b) for st, h, b in results if st == 503]
    assert busy and any(st == 200 for st, _, _ in results)
    assert all(b["error"]["code"] == "busy" and h == str(RETRY_AFTER_S) for h, b in busy), busy
    resp = await client.get("/unavailable")  # aiohttp's own 503 as well
    assert resp.status == 503 and resp.headers.get("Retry-After") == str(RETRY_AFTER_S)
    assert (await client.get("/healthz")).headers.get("Retry-After") is None  # only on 503


async def test_the_bots_client_reads_retry_after(aiohttp_client, settings):
    from bot.inference_client import InferenceClient, RetryableInferenceError

    app = app_with(settings, StandInScalp("MIDDLE", delay=0.3), max_batch=1, max_wait_ms=0, max_queue=1)
    server = (await aiohttp_client(app)).server
    async with InferenceClient(str(server.make_url(""))) as bot_client:
        results = await asyncio.gather(*(bot_client.analyze(noise_photo(i)) for i in range(5)),
                                       return_exceptions=True)
    busy = [r for r in results if isinstance(r, RetryableInferenceError)]
    assert busy and all(e.code == "busy" and e.retry_after == RETRY_AFTER_S for e in busy), results


# -- clients that went away -------------------------------------------------------------------


class HeldScalp(StandInScalp):
    """The stand-in, each batch held until the test releases it; ``started`` counts the photos
    given to the model."""

    def __init__(self) -> None:
        super().__init__("MIDDLE")
        self.release = threading.Event()
        self.started: list[int] = []

    def analyze(self, images, backgrounds=None):
        self.started.append(len(images))
        self.release.wait(WAIT_S)
        return super().analyze(images, backgrounds)


class DeployedServer(TestServer):
    """aiohttp's test server as ``serve.py`` runs the app (``web.run_app``, ``AppRunner``): the
    handler of a client that goes away is not cancelled (aiohttp's test server cancels it)."""

    async def _make_runner(self, **kwargs):
        kwargs["handler_cancellation"] = False
        return await super()._make_runner(**kwargs)


# both ways a gone client is seen: the flow's checks (as deployed), the handler's cancellation
GONE_MODES = pytest.mark.parametrize("cancelled", [False, True], ids=["as_deployed", "handler_cancelled"])


async def start(aiohttp_client, app: web.Application, cancelled: bool):
    return await aiohttp_client(app if cancelled else DeployedServer(app))


def open_connections(client) -> int:
    """Connections whose client is still there (aiohttp keeps a gone one listed until its handler ends)."""
    return sum(1 for handler in client.server.runner.server.connections if handler.transport is not None)


@GONE_MODES
async def test_a_client_that_disconnects_in_the_queue_is_not_computed(aiohttp_client, settings, cancelled):
    model = HeldScalp()
    client = await start(aiohttp_client, app_with(settings, model, max_batch=1, max_wait_ms=0), cancelled)
    flow = client.server.app[FLOW]
    first = asyncio.create_task(post(client, noise_photo(1)))
    await until(lambda: model.started == [1], "the first photo is in the model")
    head, body = multipart(noise_photo(2))
    _, writer = await raw_request(client, head, body)
    await until(lambda: flow.waiting == 1, "the second photo waits for the model")
    writer.close()  # its client gives up
    await until(lambda: open_connections(client) == 1, "the server saw the second client go")
    model.release.set()
    st, _ = await asyncio.wait_for(first, WAIT_S)
    assert st == 200
    await until(lambda: flow.waiting == 0 and flow._batcher is not None and flow._batcher.dropped == 1,
                "the batcher dropped the second photo")
    samples = await metric_samples(client)
    assert samples[("inference_dropped_requests_total", (("stage", "model"),))] == 1
    gone = ("inference_requests_total", (("route", "/v1/analyze"), ("status", "499")))
    assert samples.get(gone) == 1 or not cancelled, samples  # a cancelled handler is counted as 499
    assert samples.get(("inference_errors_total", (("code", "client_gone"),))) == (None if cancelled else 1)
    st, _ = await post(client, noise_photo(3))
    assert st == 200 and model.started == [1, 1]  # the second photo never reached the model


@GONE_MODES
async def test_a_client_that_disconnects_while_waiting_for_the_budget_is_not_decoded(aiohttp_client, settings,
                                                                                      cancelled):
    model = StandInScalp("MIDDLE")
    client = await start(aiohttp_client, app_with(settings, model), cancelled)
    flow = client.server.app[FLOW]
    async with flow.budget.reserve(flow.budget.max_bytes):  # the budget is full
        head, body = multipart(noise_photo(2))
        _, writer = await raw_request(client, head, body)
        await until(lambda: flow.budget.waiting == 1, "the photo waits for room to decode")
        writer.close()
        await until(lambda: open_connections(client) == 0, "the server saw the client go")
    await until(lambda: flow.budget.waiting == 0 and flow.budget.in_use == 0, "the waiting photo was dropped")
    samples = await metric_samples(client)
    assert samples.get(("inference_dropped_requests_total", (("stage", "decode"),))) == 1, samples
    assert model.calls == []


def test_settings_decode_budget_from_env():
    assert Settings.from_env({}).decode_budget == 512 * MB
    assert Settings.from_env({"INFERENCE_DECODE_MB": "64"}).decode_budget == 64 * MB
    assert Settings(decode_budget_mb=3).decode_budget == 3 * MB
