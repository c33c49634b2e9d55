"""Quality gate: real photos pass, photos made bad on purpose fail with the right reason.

The real photos are read from ../shared at test time (never copied into the project).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.pipeline.common import quality
from inference.pipeline.common.decode import decode
from inference.pipeline.common.quality import REASONS, RegionEvidence, check, region_reason
from tests.paths import SHARED, WEIGHTS

DATASETS = SHARED / "datasets"
SCALP = sorted(DATASETS.glob("scalp_uze/*/*.jpg"))
FACE = sorted(DATASETS.glob("acne04/*/images/*.jpg"))
PASS_RATE = 0.98

cv2.setNumThreads(1)


def sample(paths: list[Path], n: int) -> list[Path]:
    return paths[:: max(1, len(paths) // n)][:n]


def needs(paths: list[Path]) -> None:
    if not paths:
        pytest.skip(f"the real photos are not in {DATASETS}")


@pytest.mark.parametrize("name,paths,n", [("scalp_uze", SCALP, 200), ("acne04", FACE, 200)])
def test_real_photos_pass(name, paths, n):
    needs(paths)
    reports = [check(decode(p.read_bytes()).rgb) for p in sample(paths, n)]
    failed = [(p.name, r.reasons) for p, r in zip(sample(paths, n), reports) if not r.ok]
    assert len(reports) >= min(n, len(paths)) * 0.9
    assert 1 - len(failed) / len(reports) >= PASS_RATE, failed


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    needs(SCALP)
    return decode(SCALP[len(SCALP) // 2].read_bytes()).rgb


def test_the_reference_photo_passes(photo):
    r = check(photo)
    assert r.ok and r.reasons == ()


def test_black_is_too_dark():
    assert check(np.zeros((480, 640, 3), np.uint8)).reasons == ("too_dark",)


def test_white_is_too_bright():
    assert check(np.full((480, 640, 3), 255, np.uint8)).reasons == ("too_bright",)


def test_mostly_blown_out_is_too_bright(photo):
    im = photo.copy()
    im[: int(im.shape[0] * 0.7)] = 255
    assert "too_bright" in check(im).reasons


def test_underexposed_photo_is_too_dark(photo):
    assert check((photo * 0.15).astype(np.uint8)).reasons == ("too_dark",)


@pytest.mark.parametrize("sigma", [3.0, 5.0])
def test_blurred_photo_is_blurry(photo, sigma):
    r = check(cv2.GaussianBlur(photo, (0, 0), sigma))
    assert r.reasons == ("blurry",), r.metrics


def test_thumbnail_is_too_small(photo):
    r = check(cv2.resize(photo, (100, 80), interpolation=cv2.INTER_AREA))
    assert r.reasons == ("too_small",), r.metrics


def test_blurry_photos_from_both_datasets():
    """Blurred copies of real photos fail, as their originals pass."""
    needs(SCALP)
    needs(FACE)
    for p in sample(SCALP, 15) + sample(FACE, 15):
        rgb = decode(p.read_bytes()).rgb
        assert check(rgb).ok, p.name
        assert "blurry" in check(cv2.GaussianBlur(rgb, (0, 0), 3.0)).reasons, p.name


def test_report_shape():
    r = check(np.full((300, 400, 3), 120, np.uint8))
    d = r.as_dict()
    assert set(d) == {"ok", "reasons", "metrics"}
    assert {
        "min_side",
        "brightness",
        "underexposed_fraction",
        "overexposed_fraction",
        "sharpness",
        "sharpness_ratio",
    } <= set(d["metrics"])
    assert d["metrics"]["min_side"] == 300
    assert all(x in REASONS for x in r.reasons)


def test_region_evidence():
    assert region_reason(RegionEvidence(0.0, 0.0)) == "not_scalp_or_face"
    assert region_reason(RegionEvidence(0.0, 0.9)) is None  # nothing detected, but the U-Net sees hair / skin
    assert region_reason(RegionEvidence(0.8, 0.0)) is None  # a confident box
    r = check(np.full((300, 400, 3), 120, np.uint8))
    r2 = r.with_reason("not_scalp_or_face")
    assert not r2.ok and r2.reasons[-1] == "not_scalp_or_face" and r2.metrics == r.metrics


@pytest.fixture(scope="module")
def scalp_models():
    if not (WEIGHTS / "scalp_yolo.pt").is_file():
        pytest.skip("weights/scalp_yolo.pt is missing (train with python -m inference.train scalp)")
    from inference.models.onnx_runtime import Backend
    from inference.service.domains import load_scalp

    return load_scalp(WEIGHTS, Backend("cpu", threads=1))


def evidence(models, images: list[np.ndarray]) -> list[RegionEvidence]:
    from inference.service.domains import scalp_output

    return [scalp_output(a).evidence for a in models.analyze(images)]


def test_region_evidence_thresholds_on_real_photos(scalp_models):
    """Real scalp and face photos show a subject: >= 98% keep clear of not_scalp_or_face."""
    needs(SCALP)
    needs(FACE)
    for paths in (sample(SCALP, 24), sample(FACE, 24)):
        ev = []
        for i in range(0, len(paths), 8):
            ev += evidence(scalp_models, [decode(p.read_bytes()).rgb for p in paths[i : i + 8]])
        flagged = [(p.name, e) for p, e in zip(paths, ev) if region_reason(e)]
        assert 1 - len(flagged) / len(ev) >= PASS_RATE, flagged


@pytest.mark.slow
def test_region_evidence_flags_a_photo_of_no_one(scalp_models):
    """A photo with no head in it (made here: a sharp, well-lit scene of coloured shapes)."""
    rng = np.random.default_rng(7)
    im = np.full((480, 640, 3), (70, 130, 200), np.uint8)  # blue wall
    for _ in range(40):
        x, y = rng.integers(0, 600), rng.integers(0, 440)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(im, (int(x), int(y)), (int(x + rng.integers(10, 120)), int(y + rng.integers(10, 120))), color, -1)
    assert check(im).ok
    e = evidence(scalp_models, [im])[0]
    assert region_reason(e) == "not_scalp_or_face", e


def test_thresholds_are_named_constants():
    for name in (
        "MIN_SIDE",
        "DARK_MEAN",
        "BRIGHT_MEAN",
        "BRIGHT_FRACTION_MAX",
        "BLUR_RATIO_MIN",
        "REGION_SCORE_MIN",
        "SUBJECT_SHARE_MIN",
    ):
        assert isinstance(getattr(quality, name), (int, float))
