"""decode: every accepted format and mode, made here with Pillow, and every named error."""
from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from inference.pipeline.common.decode import MAX_BYTES, MAX_PIXELS, MAX_WORKING_SIDE, DecodeError, decode
from tests.paths import SHARED


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def two_halves(w: int = 60, h: int = 40) -> Image.Image:
    """Left half red, right half blue."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2 :] = (0, 0, 255)
    return Image.fromarray(a)


def error_code(data: bytes, **kw) -> str:
    with pytest.raises(DecodeError) as e:
        decode(data, **kw)
    return e.value.code


def png_header_only(w: int, h: int) -> bytes:
    """A valid PNG signature and IHDR claiming w x h, with a few rows of data: a bomb costs nothing to make."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + 3 * w) * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_jpeg_exif_orientation_6_is_turned_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left: rotate 90 degrees clockwise to show
    d = decode(encode(two_halves(60, 40), "JPEG", quality=95, exif=exif))
    assert d.rgb.shape == (60, 40, 3)  # portrait after the rotation
    assert d.original_size == (40, 60)
    top, bottom = d.rgb[:25].reshape(-1, 3).mean(0), d.rgb[35:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60  # the stored left (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_jpeg_without_exif_is_unchanged():
    d = decode(encode(two_halves(60, 40), "JPEG", quality=95))
    assert d.rgb.shape == (40, 60, 3) and d.format == "JPEG"
    assert d.rgb[:, :25].reshape(-1, 3).mean(0)[0] > 200


def test_png_alpha_is_composited_on_white():
    a = np.zeros((20, 30, 4), np.uint8)
    a[:, :10] = (255, 0, 0, 255)  # opaque red
    a[:, 10:20] = (255, 0, 0, 128)  # half-transparent red
    a[:, 20:] = (0, 0, 0, 0)  # transparent
    d = decode(encode(Image.fromarray(a, "RGBA"), "PNG"))
    assert d.rgb.dtype == np.uint8 and d.rgb.shape == (20, 30, 3)
    assert tuple(d.rgb[5, 5]) == (255, 0, 0)
    assert np.allclose(d.rgb[5, 15], (255, 127, 127), atol=2)
    assert tuple(d.rgb[5, 25]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["LA", "P"])
def test_other_transparent_modes(mode):
    if mode == "LA":
        im = Image.new("LA", (16, 16), (0, 0))
    else:
        im = Image.new("P", (16, 16), 0)
        im.putpalette([0, 0, 0] + [9] * 765)
        im.info["transparency"] = 0
    assert tuple(decode(encode(im, "PNG")).rgb[8, 8]) == (255, 255, 255)


def test_cmyk_jpeg_becomes_rgb():
    d = decode(encode(Image.new("CMYK", (32, 24), (0, 255, 255, 0)), "JPEG", quality=95))  # pure red ink
    assert d.rgb.shape == (24, 32, 3)
    r, g, b = d.rgb.reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_grayscale(fmt):
    d = decode(encode(Image.new("L", (20, 10), 100), fmt))
    assert d.rgb.shape == (10, 20, 3)
    assert np.allclose(d.rgb, 100, atol=2)


def test_16_bit_grayscale_png_is_scaled_not_clipped():
    a = np.full((8, 8), 32768, np.uint16)
    d = decode(encode(Image.fromarray(a), "PNG"))
    assert np.allclose(d.rgb, 128, atol=1)


def test_webp_lossless_is_exact():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    d = decode(encode(Image.fromarray(a), "WEBP", lossless=True))
    assert d.format == "WEBP"
    assert np.array_equal(d.rgb, a)


def test_large_photo_is_reduced_to_the_working_size():
    d = decode(encode(Image.new("RGB", (4500, 1500), (10, 200, 30)), "JPEG"))
    assert max(d.rgb.shape[:2]) == MAX_WORKING_SIDE
    assert d.original_size == (4500, 1500)
    assert d.rgb.shape == (round(1500 * MAX_WORKING_SIDE / 4500), MAX_WORKING_SIDE, 3)
    assert d.scale == pytest.approx(MAX_WORKING_SIDE / 4500)


def test_a_real_photo():
    photos = sorted((SHARED / "datasets" / "scalp_uze" / "valid").glob("*.jpg"))
    if not photos:
        pytest.skip("../shared/datasets/scalp_uze/valid is not here")
    d = decode(photos[0].read_bytes())
    assert d.rgb.shape == (640, 640, 3) and d.rgb.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_refused_not_padded(fmt):
    rng = np.random.default_rng(2)
    data = encode(Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)), fmt)
    assert error_code(data[: len(data) // 2]) == "truncated"


def test_empty_and_random_bytes():
    assert error_code(b"") == "empty"
    assert error_code(np.random.default_rng(3).bytes(5000)) == "not_an_image"
    assert error_code(b"<html>not a photo</html>") == "not_an_image"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_unsupported(fmt):
    assert error_code(encode(Image.new("RGB", (8, 8)), fmt)) == "unsupported_format"


def test_decompression_bomb_is_refused_before_decoding():
    data = png_header_only(20000, 20000)  # 400 million pixels claimed, a few hundred bytes sent
    assert len(data) < 10_000 and 20000 * 20000 > MAX_PIXELS
    t0 = time.perf_counter()
    assert error_code(data) == "too_many_pixels"
    assert time.perf_counter() - t0 < 1.0


def test_pixel_limit_is_a_parameter():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert error_code(data, max_pixels=9999) == "too_many_pixels"
    assert decode(data, max_pixels=10000).rgb.shape == (100, 100, 3)


def test_too_many_bytes():
    assert error_code(b"\xff\xd8\xff" + b"\0" * MAX_BYTES) == "too_large"
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert error_code(data, max_bytes=len(data) - 1) == "too_large"


def test_error_has_code_and_message():
    with pytest.raises(DecodeError) as e:
        decode(b"")
    assert e.value.code == "empty" and e.value.message
    assert isinstance(e.value, ValueError)



@pytest.mark.parametrize(
    "head,name",
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),  # an iPhone photo sent as a file
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "AVIF"),
    ],
)
def test_heic_and_avif_are_unsupported_not_garbage(head, name):
    with pytest.raises(DecodeError) as e:
        decode(head + b"\0" * 200)
    assert e.value.code == "unsupported_format" and name in e.value.message


def test_mpo_from_a_phone_opens_as_its_jpeg():
    buf = io.BytesIO()
    two_halves().save(buf, "MPO", save_all=True, append_images=[Image.new("RGB", (60, 40))])
    d = decode(buf.getvalue())
    assert d.format == "JPEG" and d.rgb.shape == (40, 60, 3)
    assert d.rgb[:, :25].reshape(-1, 3).mean(0)[0] > 200


def test_unaffected_by_ultralytics_patching_image_open():
    """Ultralytics replaces PIL.Image.open with one that tries to install a HEIF plugin on unknown files."""
    import ultralytics.utils.patches  # noqa: F401

    assert error_code(b"definitely not an image" * 10) == "not_an_image"
    assert decode(encode(Image.new("RGB", (8, 8)), "PNG")).rgb.shape == (8, 8, 3)
