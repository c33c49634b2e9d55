"""bot/inference_client.py: parsing the contract, retryable vs final failures, auth, timeouts.

The happy path against the real service runs in test_bot_e2e.py; here a small
aiohttp app answers whatever each case needs (statuses a healthy service rarely gives).
"""
from __future__ import annotations

import asyncio
import base64
import socket

import pytest
from aiohttp import web

from bot.inference_client import (
    AnalysisResult,
    FinalInferenceError,
    InferenceClient,
    RetryableInferenceError,
)

KEY = "svc-key-unit-9f8e7d"
JPEG = b"\xff\xd8\xff\xe0fake"
ANSWER = {
    "domain": "scalp", "routing": "default", "grade": "HIGH", "confidence": 0.91,
    "quality": {"ok": True, "reasons": [], "metrics": {"brightness": 120.0}},
    "regions": [{"box": [1, 2, 30, 40], "class": "HIGH", "score": 0.8,
                 "mask_area": {"skin": 10, "hair": 5}}],
    "measurements": {"exposed_scalp_ratio": 0.41, "regions": 1},
    "model_version": "scalp:aaaa.bbbb.cccc",
    "timings_ms": {"decode": 3.0, "total": 85.5},
    "annotated_jpeg": base64.b64encode(b"\xff\xd8\xffannotated").decode(),
}
REFUSED = {**ANSWER, "grade": None, "confidence": None, "annotated_jpeg": None,
           "measurements": None, "regions": [],
           "quality": {"ok": False, "reasons": ["too_dark"], "metrics": {}}}


@pytest.fixture
def seen() -> list[dict]:
    return []


@pytest.fixture
async def service(aiohttp_server, seen):
    plan: list[web.Response | str] = []

    async def analyze(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        seen.append({"auth": request.headers.get("Authorization"), "domain": form.get("domain"),
                     "image": form["image"].file.read(),
                     "content_type": form["image"].content_type})
        step = plan.pop(0) if plan else web.json_response(ANSWER)
        if step == "hang":
            await asyncio.sleep(10)
        return step

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "models_loaded": ["scalp"]})

    app = web.Application()
    app.router.add_post("/v1/analyze", analyze)
    app.router.add_get("/healthz", healthz)
    server = await aiohttp_server(app)
    server.plan = plan
    return server


async def test_parses_the_answer_and_sends_the_key(service, seen) -> None:
    async with InferenceClient(str(service.make_url("")), api_key=KEY) as client:
        result = await client.analyze(JPEG, domain="scalp", content_type="image/jpeg")
        assert (await client.health())["models_loaded"] == ["scalp"]
    assert isinstance(result, AnalysisResult) and result.graded
    assert (result.domain, result.grade, result.confidence) == ("scalp", "HIGH", 0.91)
    assert result.measurements["exposed_scalp_ratio"] == 0.41
    assert result.regions[0].box == (1.0, 2.0, 30.0, 40.0) and result.regions[0].cls == "HIGH"
    assert result.annotated_jpeg == b"\xff\xd8\xffannotated"
    assert result.service_ms == 85.5 and result.model_version == "scalp:aaaa.bbbb.cccc"
    assert seen == [{"auth": f"Bearer {KEY}", "domain": "scalp", "image": JPEG,
                     "content_type": "image/jpeg"}]
    assert KEY not in repr(client)


async def test_quality_refusal_is_a_result_without_grade(service) -> None:
    service.plan.append(web.json_response(REFUSED))
    async with InferenceClient(str(service.make_url(""))) as client:
        result = await client.analyze(JPEG)
    assert not result.graded and result.grade is None and result.annotated_jpeg is None
    assert result.quality.reasons == ("too_dark",) and result.measurements == {}


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, "domain_unavailable", FinalInferenceError),
    (401, "unauthorized", FinalInferenceError),
    (413, "too_large", FinalInferenceError),
    (415, "not_an_image", FinalInferenceError),
    (429, "slow_down", RetryableInferenceError),
    (500, "internal", RetryableInferenceError),
    (502, "http_502", RetryableInferenceError),
    (503, "busy", RetryableInferenceError),
])
async def test_status_classification(service, status, code, kind) -> None:
    if code.startswith("http_"):
        service.plan.append(web.Response(status=status, text="<html>bad gateway</html>"))
    else:
        service.plan.append(web.json_response({"error": {"code": code, "message": "m"}},
                                              status=status, headers={"Retry-After": "7"}))
    async with InferenceClient(str(service.make_url(""))) as client:
        with pytest.raises(kind) as caught:
            await client.analyze(JPEG)
    assert caught.value.code == code and caught.value.status == status
    assert caught.value.retryable is (kind is RetryableInferenceError)
    if kind is RetryableInferenceError and not code.startswith("http_"):
        assert caught.value.retry_after == 7.0


async def test_a_broken_200_answer_is_the_services_fault(service) -> None:
    service.plan.append(web.Response(status=200, text="not json"))
    service.plan.append(web.json_response({**ANSWER, "grade": "VERY_BAD"}))
    async with InferenceClient(str(service.make_url(""))) as client:
        for _ in range(2):
            with pytest.raises(RetryableInferenceError) as caught:
                await client.analyze(JPEG)
            assert caught.value.code == "bad_answer"


async def test_timeout_and_connection_refused_are_retryable(service) -> None:
    service.plan.append("hang")
    async with InferenceClient(str(service.make_url("")), timeout=0.3) as client:
        with pytest.raises(RetryableInferenceError) as caught:
            await client.analyze(JPEG)
    assert caught.value.code == "timeout"

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with InferenceClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(RetryableInferenceError) as caught:
            await client.analyze(JPEG)
        assert caught.value.code == "unreachable"
        with pytest.raises(RetryableInferenceError):
            await client.health()


async def test_bad_domain_is_a_programming_error() -> None:
    client = InferenceClient("http://127.0.0.1:1")
    with pytest.raises(ValueError):
        await client.analyze(JPEG, domain="elbow")
