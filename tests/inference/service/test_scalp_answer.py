"""What the scalp answer measures, read from its class mask: the answer carries the mask, the
picture draws it, the face is never scalp, transparent pixels are never skin."""
from __future__ import annotations

import base64
import io

import cv2
import numpy as np
import pytest
from aiohttp import FormData
from PIL import Image

from inference.evaluate.scalp import face_leak
from inference.models.face_detector import FaceDetector
from inference.pipeline.scalp.anatomy import BACKGROUND, SCALP, SCALP_CLASSES
from inference.service.app import create_app
from inference.service.domains import Models, load_models
from inference.service.settings import Settings
from tests.fakes.inference import StandInScalp, stand_in_models
from tests.paths import SHARED, WEIGHTS

VALID = sorted((SHARED / "datasets" / "scalp_uze" / "valid").glob("*.jpg"))


def png(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    return buf.getvalue()


def mask_of(body: dict) -> np.ndarray:
    m = body["masks"]
    assert m["format"] == "png"
    labels = np.array(Image.open(io.BytesIO(base64.b64decode(m["data"]))))
    assert labels.shape == (body["image"]["height"], body["image"]["width"])
    return labels


async def analyze(client, data: bytes, domain: str | None = None) -> dict:
    f = FormData()
    f.add_field("image", data, filename="photo.png", content_type="image/png")
    if domain:
        f.add_field("domain", domain)
    resp = await client.post("/v1/analyze", data=f)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_answer_carries_its_class_mask(aiohttp_client):
    settings = Settings(device="cpu", max_batch=4, max_wait_ms=5)
    client = await aiohttp_client(create_app(settings, lambda s: stand_in_models(s, StandInScalp("MIDDLE"))))
    rgb = np.random.default_rng(0).integers(40, 220, (320, 400, 3), dtype=np.uint8)
    body = await analyze(client, png(rgb))
    assert body["masks"]["classes"] == list(SCALP_CLASSES)
    labels = mask_of(body)
    assert labels[100, 200] == SCALP and labels[200, 200] == SCALP_CLASSES.index("hair") and labels[5, 5] == BACKGROUND
    region = body["regions"][0]["mask_area"]
    assert region["scalp"] == int((labels[80:240, 100:300] == SCALP).sum())


@pytest.fixture(scope="module")
def real() -> Models:
    if not (WEIGHTS / "scalp_yolo.pt").is_file() or len(VALID) < 20:
        pytest.skip("the weights or the valid photos are missing")
    return load_models(Settings(weights=WEIGHTS, device="cpu", threads=1))


@pytest.fixture
async def real_client(aiohttp_client, real):
    return await aiohttp_client(create_app(Settings(device="cpu", max_batch=4, max_wait_ms=5), lambda s: real))


@pytest.mark.slow
async def test_a_transparent_half_is_background_not_bald(real_client):
    rgb = cv2.cvtColor(cv2.imread(str(next(p for p in VALID if "Top-Down" in p.name))), cv2.COLOR_BGR2RGB)
    opaque = await analyze(real_client, png(rgb), "scalp")
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, rgb.shape[1] // 2 :, 3] = 0
    half = await analyze(real_client, png(rgba), "scalp")
    labels = mask_of(half)
    assert (labels[:, rgb.shape[1] // 2 + 2 :] == BACKGROUND).all()
    # what is measured is the visible half: nowhere near "all bald"
    assert half["measurements"]["exposed_scalp_ratio"] < max(0.5, opaque["measurements"]["exposed_scalp_ratio"] + 0.3)


@pytest.mark.slow
async def test_no_face_below_the_eyes_is_scalp(real_client):
    """Front and side views where YuNet (its product threshold) finds a face: the share of the
    face box below the eyes that the answer's mask calls scalp (the issue measures this)."""
    finder = FaceDetector(WEIGHTS / "yunet_s_320_320.onnx")
    leaks = []
    for p in VALID:
        if not any(v in p.name for v in ("Front", "Left", "Right")):
            continue
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        faces = finder.detect(rgb, orientations=1)
        if not faces:
            continue
        labels = mask_of(await analyze(real_client, p.read_bytes()))
        leaks += face_leak(labels, faces[:1])
    assert len(leaks) >= 5
    assert np.mean(leaks) <= 0.03 and max(leaks) <= 0.1, leaks
