"""The HTTP service through aiohttp's test client, the micro-batcher, and the analyze CLI.

The contract, auth and bad-input tests use a stand-in scalp model (fast, always
run). The tests marked slow use the trained weights in weights/ and real photos
from ../shared; they skip, saying why, only when weights/scalp_yolo.pt is missing.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
from aiohttp import FormData
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from inference.models.onnx_runtime import Backend
from inference.pipeline.common.decode import MAX_BYTES
from inference.service.app import CLIENT_MAX_SIZE, create_app
from inference.service.batching import Busy, MicroBatcher, Stopped
from inference.service.domains import Models, load_models, short_sha256
from inference.service.flow import Flow
from inference.service.settings import Settings
from inference.types import GRADES, UNCERTAIN
from tests.fakes.inference import StandInScalp, stand_in_models
from tests.paths import ROOT, SHARED, WEIGHTS

PHOTOS = sorted((SHARED / "datasets" / "scalp_uze" / "valid").glob("*.jpg"))
ANSWER_KEYS = {
    "domain", "routing", "grade", "confidence", "grade_detail", "quality", "regions",
    "measurements", "model_version", "image", "timings_ms", "annotated_jpeg", "route_probabilities", "masks",
    "could_be",
}
MEASUREMENT_KEYS = {"exposed_scalp_ratio", "hair_pixels", "scalp_pixels", "region_fraction", "regions", "zones", "view"}


def stand_in(chain: StandInScalp | None = None):
    """A models factory: the stand-in scalp chain, always MIDDLE unless told otherwise."""
    return lambda settings: stand_in_models(settings, chain or StandInScalp("MIDDLE"))


def jpeg(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def noise_photo(seed: int = 0, h: int = 320, w: int = 400) -> bytes:
    """Sharp, mid-grey, big enough: passes the quality gate."""
    return jpeg(np.random.default_rng(seed).integers(40, 220, (h, w, 3), dtype=np.uint8))


def form(data: bytes | None, domain: str | None = None, filename: str = "photo.jpg") -> FormData:
    f = FormData()
    if data is not None:
        f.add_field("image", data, filename=filename, content_type="image/jpeg")
    if domain is not None:
        f.add_field("domain", domain)
    return f


async def post(client, data: bytes | None, domain: str | None = None, headers: dict | None = None):
    resp = await client.post("/v1/analyze", data=form(data, domain), headers=headers or {})
    return resp.status, await resp.json()


async def metric_samples(client) -> dict[tuple[str, tuple], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


@pytest.fixture
def settings() -> Settings:
    return Settings(weights=WEIGHTS, device="cpu", max_batch=8, max_wait_ms=5, max_queue=16)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings, models_factory=stand_in()))


# -- the answer's contract ---------------------------------------------------------


async def test_answer_contract(client):
    status, body = await post(client, noise_photo())
    assert status == 200, body
    assert set(body) == ANSWER_KEYS
    assert body["domain"] == "scalp" and body["routing"] == "default"
    assert body["grade"] == "MIDDLE" and body["confidence"] == pytest.approx(0.8)
    assert body["grade_detail"]["best_guess"] == "MIDDLE"
    assert body["quality"]["ok"] is True and body["quality"]["reasons"] == []
    assert set(body["measurements"]) == MEASUREMENT_KEYS
    [region] = body["regions"]
    assert set(region) == {"box", "class", "score", "mask_area"}
    assert region["box"] == [100.0, 80.0, 300.0, 240.0] and region["class"] == "MIDDLE"
    assert set(region["mask_area"]) == {"hair", "scalp", "other_skin"} and region["mask_area"]["scalp"] > 0
    assert body["model_version"] == "scalp:00000000.11111111.22222222"
    assert body["image"] == {
        "width": 400,
        "height": 320,
        "original_width": 400,
        "original_height": 320,
        "format": "JPEG",
    }
    assert {"decode", "quality", "queue", "predict", "draw", "total"} <= set(body["timings_ms"])
    im = Image.open(io.BytesIO(base64.b64decode(body["annotated_jpeg"])))
    assert im.format == "JPEG" and max(im.size) <= 1280


async def test_domain_choice(client):
    status, body = await post(client, noise_photo(), "scalp")
    assert status == 200 and body["routing"] == "requested" and body["domain"] == "scalp"
    status, body = await post(client, noise_photo(), "face")
    assert status == 400 and body["error"]["code"] == "domain_unavailable"
    status, body = await post(client, noise_photo(), "elbow")
    assert status == 400 and body["error"]["code"] == "bad_domain"


async def test_quality_failure_is_a_valid_answer(aiohttp_client, settings):
    model = StandInScalp("MIDDLE")
    client = await aiohttp_client(create_app(settings, models_factory=stand_in(model)))
    status, body = await post(client, jpeg(np.zeros((480, 640, 3), np.uint8)))
    assert status == 200
    assert set(body) == ANSWER_KEYS
    assert body["quality"]["ok"] is False and body["quality"]["reasons"] == ["too_dark"]
    assert body["grade"] is None and body["confidence"] is None and body["annotated_jpeg"] is None
    assert body["regions"] == [] and body["measurements"] is None
    assert model.calls == []  # the models never saw it
    samples = await metric_samples(client)
    assert samples[("inference_quality_rejections_total", (("reason", "too_dark"),))] == 1


async def test_no_subject_is_not_scalp_or_face(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings, models_factory=stand_in(StandInScalp("MIDDLE", empty=True))))
    status, body = await post(client, noise_photo())
    assert status == 200
    assert body["quality"]["ok"] is False and body["quality"]["reasons"] == ["not_scalp_or_face"]
    assert body["grade"] is None and body["annotated_jpeg"] is None
    assert body["regions"][0]["class"] == "image" and body["regions"][0]["score"] == 0


# -- bad input ---------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = noise_photo(3)
    return data[: len(data) // 2]


def png_bomb(w: int = 20000, h: int = 20000, depth: int = 8) -> bytes:
    """A PNG header claiming w x h pixels (of ``depth`` bits a sample), with a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, depth, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (10, 10)).save(buf, "GIF")
    return buf.getvalue()


@pytest.mark.parametrize(
    "make,status,code",
    [
        (lambda: b"", 400, "empty"),
        (lambda: np.random.default_rng(0).bytes(4000), 415, "not_an_image"),
        (gif, 415, "unsupported_format"),
        (truncated_jpeg, 422, "truncated"),
        (png_bomb, 413, "too_many_pixels"),
        # under the 50 MP of 8-bit pictures, over the 25 MP of 16-bit ones (hardening issue)
        (lambda: png_bomb(6000, 6000, depth=16), 413, "too_many_pixels"),
        (lambda: png_bomb(0, 0), 422, "truncated"),  # a header that no decoder takes
        (lambda: b"\x89PNG\r\n\x1a\n", 422, "truncated"),
        (lambda: b"\xff\xd8\xff" + bytes(MAX_BYTES), 413, "too_large"),  # under the body limit, over the image limit
        (lambda: bytes(CLIENT_MAX_SIZE + 1), 413, "too_large"),  # over client_max_size
    ],
    ids=["empty", "random", "gif", "truncated", "bomb", "bomb_16_bit", "zero_size", "signature_only",
         "image_too_large", "body_too_large"],
)
async def test_bad_input_then_keeps_serving(client, make, status, code):
    st, body = await post(client, make())
    assert st == status, body
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    st, body = await post(client, noise_photo())
    assert st == 200 and body["grade"] == "MIDDLE"


async def test_malformed_requests(client):
    st, body = await post(client, None, "auto")
    assert st == 400 and body["error"]["code"] == "missing_image"
    resp = await client.post("/v1/analyze", data=b"\xff\xd8", headers={"Content-Type": "image/jpeg"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "missing_image"
    resp = await client.get("/v1/analyze")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"
    resp = await client.get("/nowhere")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    # neighbours: a domain that is not one, in any script; a body that is not multipart
    for domain in ("hair", "두피", "scalp\x00", "x" * 5000):
        st, body = await post(client, noise_photo(), domain)
        assert st == 400 and body["error"]["code"] == "bad_domain", domain
    resp = await client.post("/v1/analyze", data=b"--x\r\nnot really multipart",
                             headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= resp.status < 500 and (await resp.json())["error"]["code"]
    resp = await client.post("/v1/analyze", data="{}", headers={"Content-Type": "application/json"})
    assert 400 <= resp.status < 500 and (await resp.json())["error"]["code"]
    st, body = await post(client, noise_photo())
    assert st == 200 and body["grade"] == "MIDDLE"  # still serving
    samples = await metric_samples(client)
    assert samples[("inference_errors_total", (("code", "missing_image"),))] == 3  # JSON too
    assert samples[("inference_errors_total", (("code", "bad_request"),))] == 1


# -- auth --------------------------------------------------------------------------


async def test_api_key(aiohttp_client, settings):
    app = create_app(dataclasses.replace(settings, api_key="s3cret-key"), models_factory=stand_in())
    client = await aiohttp_client(app)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic s3cret-key"},
        {"Authorization": "Bearer"},
    ):
        st, body = await post(client, noise_photo(), headers=headers)
        assert st == 401 and body["error"]["code"] == "unauthorized", headers
    resp = await client.post("/v1/analyze", data=form(noise_photo()))
    assert resp.headers.get("WWW-Authenticate") == "Bearer"
    st, body = await post(client, noise_photo(), headers={"Authorization": "Bearer s3cret-key"})
    assert st == 200 and body["grade"] == "MIDDLE"
    assert (await client.get("/healthz")).status == 200  # probes need no key


async def test_no_key_configured_means_open(client):
    st, _ = await post(client, noise_photo(), headers={"Authorization": "Bearer anything"})
    assert st == 200


# -- health and metrics -------------------------------------------------------------


async def test_healthz(client):
    resp = await client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200
    assert body["models_loaded"] == ["scalp"] and body["device"] == "cpu"
    assert body["weights"]["scalp"]["scalp_yolo.pt"] == "00000000"


async def test_metrics(client):
    await post(client, noise_photo())
    await post(client, b"")
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    s = await metric_samples(client)
    assert s[("inference_requests_total", (("route", "/v1/analyze"), ("status", "200")))] == 1
    assert s[("inference_requests_total", (("route", "/v1/analyze"), ("status", "400")))] == 1
    assert s[("inference_errors_total", (("code", "empty"),))] == 1
    assert s[("inference_request_seconds_count", (("route", "/v1/analyze"),))] == 2
    assert s[("inference_batch_size_count", (("model", "scalp"),))] == 1
    assert s[("inference_grades_total", (("domain", "scalp"), ("grade", "MIDDLE")))] == 1
    assert s[("inference_models_loaded", (("domain", "scalp"),))] == 1


# -- batching ------------------------------------------------------------------------


async def test_concurrent_requests_share_a_forward_pass(aiohttp_client, settings):
    model = StandInScalp("MIDDLE")
    app = create_app(dataclasses.replace(settings, max_wait_ms=300), models_factory=stand_in(model))
    client = await aiohttp_client(app)
    results = await asyncio.gather(*(post(client, noise_photo(i)) for i in range(6)))
    assert all(st == 200 for st, _ in results)
    assert sum(model.calls) == 6 and max(model.calls) >= 2


async def test_queue_full_answers_busy(aiohttp_client, settings):
    s = dataclasses.replace(settings, max_batch=1, max_wait_ms=0, max_queue=1)
    client = await aiohttp_client(create_app(s, models_factory=stand_in(StandInScalp("MIDDLE", delay=0.5))))
    results = await asyncio.gather(*(post(client, noise_photo(i)) for i in range(5)))
    codes = sorted(st for st, _ in results)
    assert 200 in codes and 503 in codes
    assert all(b["error"]["code"] == "busy" for st, b in results if st == 503)
    st, _ = await post(client, noise_photo())
    assert st == 200


async def test_batcher_groups_and_propagates_errors():
    sizes = []

    def fn(xs):
        sizes.append(len(xs))
        if any(x < 0 for x in xs):
            raise ValueError("negative")
        return [x * 10 for x in xs]

    async with MicroBatcher(fn, max_batch=4, max_wait_ms=100, max_queue=100) as b:
        assert await asyncio.gather(*(b.submit(i) for i in range(10))) == [i * 10 for i in range(10)]
        assert sizes == [4, 4, 2]
        sizes.clear()
        res = await asyncio.gather(b.submit(1), b.submit(-1), b.submit(2), return_exceptions=True)
        assert sizes == [3] and all(isinstance(r, ValueError) for r in res)
        assert await b.submit(5) == 50  # the next batch runs as usual


async def test_batcher_bounded_queue_and_stop():
    async with MicroBatcher(lambda xs: (time.sleep(0.2), xs)[1], max_batch=1, max_wait_ms=0, max_queue=2) as b:
        tasks = [asyncio.create_task(b.submit(0))]
        await asyncio.sleep(0.05)  # the first is running
        tasks += [asyncio.create_task(b.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)  # two are waiting
        assert b.waiting == 2
        with pytest.raises(Busy):
            await b.submit(99)
        assert await asyncio.gather(*tasks) == [0, 1, 2]
    pending = MicroBatcher(lambda xs: xs)
    with pytest.raises(Stopped):  # not started
        await pending.submit(1)


async def test_batcher_waits_only_for_announced_items():
    sizes = []

    def fn(xs):
        sizes.append(len(xs))
        return xs

    async with MicroBatcher(fn, max_batch=8, max_wait_ms=2000) as b:
        t0 = time.perf_counter()
        assert await b.submit(1) == 1  # nobody else is coming: no waiting for company
        assert time.perf_counter() - t0 < 0.5
        b.expect()
        b.expect()

        async def late(x, delay):
            await asyncio.sleep(delay)
            return await b.submit(x, expected=True)

        t0 = time.perf_counter()
        got = await asyncio.gather(b.submit(2), late(3, 0.1), late(4, 0.2))
        assert got == [2, 3, 4] and sizes[-1] == 3  # waited for the two announced ones
        assert time.perf_counter() - t0 < 1.5  # and no longer than they took
        b.expect()
        t0 = time.perf_counter()
        b.unexpect()  # the announced one failed before the model
        assert await b.submit(5) == 5 and time.perf_counter() - t0 < 0.5


async def test_batcher_runs_off_the_event_loop():
    loop_thread = []

    def fn(xs):
        import threading

        loop_thread.append(threading.current_thread().name)
        return xs

    async with MicroBatcher(fn, name="m") as b:
        await b.submit(1)
    assert loop_thread[0].startswith("batch-m")


# -- the real models ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_models() -> Models:
    if not (WEIGHTS / "scalp_yolo.pt").is_file():
        pytest.skip("weights/scalp_yolo.pt is missing: train it with python -m inference.train scalp")
    if len(PHOTOS) < 6:
        pytest.skip(f"real scalp photos are missing in {SHARED / 'datasets/scalp_uze/valid'}")
    return load_models(Settings(weights=WEIGHTS, device="cpu", threads=1))


async def one_at_a_time(models: Models, photos: list[bytes]) -> list[dict]:
    """The reference answers: each photo alone in its forward pass, through the same flow."""
    async with Flow(Settings(device="cpu", max_batch=1), lambda s: models) as flow:
        return [await flow.analyze(d, with_image=False) for d in photos]


def same_answer(a: dict, b: dict, tol: float = 2e-3) -> None:
    assert a["grade"] == b["grade"] and a["domain"] == b["domain"]
    assert a["confidence"] == pytest.approx(b["confidence"], abs=tol)
    for g in GRADES:
        assert a["grade_detail"]["probabilities"][g] == pytest.approx(b["grade_detail"]["probabilities"][g], abs=tol)
    ma, mb = a["measurements"], b["measurements"]
    assert ma["exposed_scalp_ratio"] == pytest.approx(mb["exposed_scalp_ratio"], abs=tol)
    for k in ("hair_pixels", "scalp_pixels"):
        assert ma[k] == pytest.approx(mb[k], rel=tol, abs=50)
    assert len(a["regions"]) == len(b["regions"])
    for ra, rb in zip(a["regions"], b["regions"]):
        assert ra["class"] == rb["class"] and ra["score"] == pytest.approx(rb["score"], abs=tol)
        assert ra["box"] == pytest.approx(rb["box"], abs=1.0)
    assert a["quality"] == b["quality"]


@pytest.mark.slow
async def test_real_photo(aiohttp_client, settings, real_models):
    client = await aiohttp_client(create_app(settings, models_factory=lambda s: real_models))
    st, body = await post(client, PHOTOS[0].read_bytes())
    assert st == 200, body
    assert set(body) == ANSWER_KEYS
    assert body["domain"] == "scalp" and body["quality"]["ok"] is True
    assert body["grade"] in (*GRADES, UNCERTAIN) and 0 <= body["confidence"] <= 1
    assert set(body["measurements"]) == MEASUREMENT_KEYS
    # detector, U-Net, grader, face finder (+ the grade CNN and the view classifier where shipped)
    n_scalp = 4 + sum((WEIGHTS / f).is_file() for f in ("scalp_cnn.pt", "scalp_view.pt"))
    hashes = r"[0-9a-f]{8}(\.[0-9a-f]{8}){" + str(n_scalp - 1) + "}"
    assert re.fullmatch(rf"scalp:{hashes} router:[0-9a-f]{{8}}", body["model_version"])
    assert body["routing"] == "router" and body["route_probabilities"]["scalp"] > 0.5
    assert body["regions"] and all(set(r["mask_area"]) == {"hair", "scalp", "other_skin"} for r in body["regions"])
    im = Image.open(io.BytesIO(base64.b64decode(body["annotated_jpeg"])))
    assert im.format == "JPEG" and max(im.size) <= 1280
    health = await (await client.get("/healthz")).json()
    assert sorted(health["models_loaded"]) == ["face", "scalp"] and health["device"] == "cpu"
    # which file runs each network: on the CPU the int8 twins where they exist, else the float export
    for domain, files in health["running"].items():
        for weights, runs in files.items():
            if weights.endswith(".pt"):
                stem = weights.removesuffix(".pt")
                int8 = (WEIGHTS / f"{stem}.int8.onnx").is_file()
                assert runs == (f"{stem}.int8.onnx" if int8 else f"{stem}.onnx"), (domain, weights, runs)
            else:
                assert runs == weights
    assert health["running"]["face"]["face_unet.pt"] == "face_unet.onnx"  # the lesion U-Net stays float


FACE_PHOTOS = sorted((SHARED / "datasets" / "acne04" / "valid" / "images").glob("*.jpg"))


@pytest.mark.slow
async def test_real_face_photo_is_routed_and_counted(aiohttp_client, settings, real_models):
    if not FACE_PHOTOS:
        pytest.skip("ACNE04 photos are missing")
    client = await aiohttp_client(create_app(settings, models_factory=lambda s: real_models))
    st, body = await post(client, FACE_PHOTOS[3].read_bytes())
    assert st == 200, body
    assert (body["domain"], body["routing"]) == ("face", "router") and body["quality"]["ok"] is True
    assert body["grade"] in (*GRADES, UNCERTAIN)
    m = body["measurements"]
    assert m["lesion_count"] == len(body["regions"]) and m["level"] in ("mild", "moderate", "severe", "very_severe")
    w, h = body["image"]["width"], body["image"]["height"]
    assert (
        m["lesion_density"] == pytest.approx(m["lesion_count"] / (w * h / 1e6), abs=0.01)
        and m["lesion_density_unit"] == "per_megapixel"
    )
    assert all(r["class"] == "acne" and 0 < r["score"] <= 1 for r in body["regions"])
    assert body["model_version"].startswith("face:")
    # the caller can fix the domain: the same photo through the scalp models
    st, fixed = await post(client, FACE_PHOTOS[3].read_bytes(), domain="scalp")
    assert st == 200 and (fixed["domain"], fixed["routing"]) == ("scalp", "requested")


@pytest.mark.slow
async def test_photos_of_neither_are_not_analysed(aiohttp_client, settings, real_models):
    from inference.train.router.neither import neither_set

    client = await aiohttp_client(create_app(settings, models_factory=lambda s: real_models))
    refused = 0
    for item in neither_set(12, seed=4242):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(item.rgb, cv2.COLOR_RGB2BGR))
        st, body = await post(client, data.tobytes())
        assert st == 200 and body["grade"] is None and body["annotated_jpeg"] is None, body
        assert body["quality"]["reasons"], body  # a pixel-gate reason or the router's
        if "not_scalp_or_face" in body["quality"]["reasons"]:
            refused += 1
            assert (
                body["domain"] is None and body["routing"] == "router" and body["route_probabilities"]["neither"] > 0.3
            )
    assert refused >= 6


@pytest.mark.slow
async def test_real_batching_matches_unbatched(aiohttp_client, settings, real_models):
    photos = [p.read_bytes() for p in PHOTOS[:: max(1, len(PHOTOS) // 6)][:6]]
    reference = await one_at_a_time(real_models, photos)
    app = create_app(dataclasses.replace(settings, max_batch=8, max_wait_ms=500), models_factory=lambda s: real_models)
    client = await aiohttp_client(app)
    results = await asyncio.gather(*(post(client, d) for d in photos))
    s = await metric_samples(client)
    batches = s[("inference_batch_size_count", (("model", "scalp"),))]
    assert s[("inference_batch_size_sum", (("model", "scalp"),))] == 6
    assert batches <= 3, "6 concurrent photos should share forward passes"
    for (st, body), ref in zip(results, reference):
        assert st == 200, body
        same_answer(body, ref)


def analyze_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m inference analyze`` in a fresh process on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INFERENCE_THREADS": "1", "WEIGHTS_DIR": str(WEIGHTS),
           "YOLO_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "inference", "analyze", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_analyze_cli(tmp_path, real_models):
    out = tmp_path / "annotated.jpg"
    p = analyze_cli(str(PHOTOS[0]), "--out", str(out), "--device", "cpu")
    assert p.returncode == 0, p.stderr[-2000:]
    body = json.loads(p.stdout)
    assert set(body) == ANSWER_KEYS - {"annotated_jpeg"}
    same_answer(body, asyncio.run(one_at_a_time(real_models, [PHOTOS[0].read_bytes()]))[0])
    assert Image.open(out).format == "JPEG"


def test_analyze_cli_bad_input(tmp_path):
    """Bad input is refused before the models load (no weights needed)."""
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not a photo")
    p = analyze_cli(str(bad))
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "not_an_image"


def test_settings_from_env():
    d = Settings.from_env({})
    assert (d.host, d.port, d.api_key, d.device, d.max_batch) == ("127.0.0.1", 8090, None, None, 8)
    s = Settings.from_env(
        {"INFERENCE_HOST": "0.0.0.0", "INFERENCE_PORT": "9000", "INFERENCE_API_KEY": "k", "INFERENCE_DEVICE": "cpu",
         "WEIGHTS_DIR": "/w", "INFERENCE_MAX_BATCH": "4", "INFERENCE_MAX_WAIT_MS": "25"}
    )
    assert (s.host, s.port, s.api_key, s.device, str(s.weights), s.max_batch, s.max_wait_ms) == (
        "0.0.0.0",
        9000,
        "k",
        "cpu",
        "/w",
        4,
        25.0,
    )
    assert Settings.from_env({"INFERENCE_PORT": "9000"}, port=1234).port == 1234  # the command line wins
    assert Settings(device="cpu").resolved_device() == "cpu"


def test_model_version_names_the_network_that_runs():
    """On the CPU the ONNX export runs: the version hashes it with the .pt; under torch, the .pt alone."""
    pt = WEIGHTS / "scalp_yolo.pt"
    if not (pt.is_file() and pt.with_suffix(".onnx").is_file()):
        pytest.skip("weights/scalp_yolo.pt and .onnx are missing")
    torch_version = short_sha256(pt, Backend("cpu", "torch"))
    assert torch_version == short_sha256(pt)
    assert short_sha256(pt, Backend("cpu", "onnx")) != torch_version
    assert short_sha256(pt, Backend("cuda")) == torch_version  # a GPU runs torch


@pytest.mark.slow
async def test_a_forced_domain_runs_the_same_checks(aiohttp_client, settings, real_models):
    """domain=scalp|face on pictures of no one: no grade, the reason code, no picture; the same
    check lets real scalp and face photos through when forced to their own domain."""
    from inference.train.router.neither import neither_set

    client = await aiohttp_client(create_app(settings, models_factory=lambda s: real_models))
    refused = {"scalp": 0, "face": 0}
    for item in neither_set(12, seed=777):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(item.rgb, cv2.COLOR_RGB2BGR))
        for domain, reason in (("scalp", "no_scalp_found"), ("face", "no_face_found")):
            st, body = await post(client, data.tobytes(), domain=domain)
            assert st == 200 and body["domain"] == domain and body["routing"] == "requested", body
            if reason in body["quality"]["reasons"]:
                refused[domain] += 1
                assert body["grade"] is None and body["annotated_jpeg"] is None and body["quality"]["ok"] is False
                assert body["route_probabilities"]["neither"] > 0.5 or domain == "face"
    assert refused["scalp"] >= 6 and refused["face"] >= 6, refused
    for data, domain in ((PHOTOS[0].read_bytes(), "scalp"), (FACE_PHOTOS[3].read_bytes(), "face")):
        st, body = await post(client, data, domain=domain)
        assert st == 200 and body["quality"]["ok"] is True and body["grade"] is not None, body


@pytest.mark.slow
async def test_a_portrait_the_router_calls_neither_is_claimed_by_the_face(aiohttp_client, settings, real_models):
    """A frontal portrait (LFW, enlarged to a phone photo's size) that the router, trained on
    close-ups, calls neither: YuNet's trusted face takes it to the face chain."""
    client = await aiohttp_client(create_app(settings, models_factory=lambda s: real_models))
    claimed = 0
    for path in sorted((SHARED / "datasets" / "lfw_parts" / "images").glob("*.jpg"))[:60]:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        st, body = await post(client, jpeg(cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)))
        assert st == 200, body
        if body["routing"] == "claimed":
            claimed += 1
            assert body["domain"] == "face" and body["route_probabilities"]["neither"] >= 0.3
            assert body["quality"]["ok"] is True and body["grade"] is not None
    assert claimed >= 1


@pytest.mark.slow
async def test_could_be_names_both_checks_only_where_the_photo_shows_both(aiohttp_client, settings, real_models):
    """A scalp photo with a face YuNet trusts could be either check; a crown from above could
    not; a photo sent for a domain is that domain only."""
    client = await aiohttp_client(create_app(settings, models_factory=lambda s: real_models))
    both = one = 0
    for path in PHOTOS:
        if "Front" not in path.name and "Top-Down" not in path.name:
            continue
        st, body = await post(client, path.read_bytes())
        assert st == 200 and body["domain"] == "scalp" and body["could_be"][0] == "scalp", body
        if "Top-Down" in path.name:
            assert body["could_be"] == ["scalp"] or body["route_probabilities"]["face"] >= 0.25
            one += body["could_be"] == ["scalp"]
        elif body["could_be"] == ["scalp", "face"]:
            both += 1
            st, forced = await post(client, path.read_bytes(), domain="scalp")
            assert forced["could_be"] == ["scalp"]
        if both >= 1 and one >= 5:
            break
    assert both >= 1 and one >= 5
