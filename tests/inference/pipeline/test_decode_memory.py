"""decode under a memory budget: the per-format pixel limits from the header, the 16-bit
conversion without float64, and the measured peak memory of real decodes against the
cost ``inspect`` announces (what the service reserves from its decode budget).

The peaks are measured in a fresh Python process (Pillow's pixels are not seen by
``tracemalloc``): ``/proc/self/clear_refs`` resets the peak RSS before each decode, and
``VmHWM`` minus the RSS before it is what the decode (and the quality gate after it) held.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc

import cv2
import numpy as np
import pytest
from PIL import Image

from inference.pipeline.common.decode import MAX_PIXELS, PIXEL_LIMITS, DecodeError, decode, gray8, inspect
from tests.paths import ROOT

MB = 1024 * 1024


def png16(w: int, h: int, channels: int = 1, value: int = 30000) -> bytes:
    """A flat 16-bit PNG made by OpenCV: a few hundred KB for tens of megapixels."""
    shape = (h, w) if channels == 1 else (h, w, channels)
    ok, buf = cv2.imencode(".png", np.full(shape, value, np.uint16))
    assert ok
    return buf.tobytes()


def error_of(data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as e:
        inspect(data)
    with pytest.raises(DecodeError) as e2:
        decode(data)
    assert e.value.code == e2.value.code
    return e.value


def test_the_issues_16_bit_7000_png_is_refused_from_its_header():
    data = png16(7000, 7000)  # 49 MP: under the general limit, over the 16-bit one
    assert len(data) < 200_000 and 7000 * 7000 < MAX_PIXELS
    e = error_of(data)
    assert e.code == "too_many_pixels" and "16-bit PNG" in e.message
    # the same pixels at 8 bits, and a 16-bit PNG at its limit, are accepted
    ok, buf = cv2.imencode(".png", np.full((7000, 7000), 120, np.uint8))
    assert inspect(buf.tobytes()).bits == 8
    h = inspect(png16(5000, 5000))
    assert (h.bits, h.pixels) == (16, PIXEL_LIMITS[("PNG", 16)])


def test_webp_has_its_own_limit():
    buf = io.BytesIO()
    Image.new("RGB", (5000, 4000), (90, 100, 110)).save(buf, "WEBP", lossless=True)
    e = error_of(buf.getvalue())
    assert e.code == "too_many_pixels" and "WEBP" in e.message


def test_16_bit_to_8_bit_rounds_like_the_scale_and_needs_no_float64():
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    got = np.asarray(gray8(Image.fromarray(every)))
    assert np.array_equal(got, np.floor(every / 65535.0 * 255.0 + 0.5).astype(np.uint8))
    im = Image.fromarray(np.full((2000, 3000), 40000, np.uint16))
    tracemalloc.start()
    try:
        out = gray8(im)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.mode == "L" and out.getpixel((0, 0)) == 156
    # the 16-bit samples, one uint32 working array and the result: under 8 bytes a pixel,
    # where a single float64 copy beside the samples would be 10
    assert peak < 8 * im.width * im.height, peak


# Each case: a name and the code that makes its bytes (in the child process: numpy as np,
# cv2, Image and io are there).
CASES = {
    "16-bit grey PNG at its limit (5000 x 5000)": "cv2.imencode('.png', np.full((5000, 5000), 30000, np.uint16))[1]",
    "16-bit RGBA PNG at its limit": "cv2.imencode('.png', np.full((5000, 5000, 4), 30000, np.uint16))[1]",
    "8-bit RGBA PNG 7000 x 7000": "cv2.imencode('.png', np.full((7000, 7000, 4), 128, np.uint8))[1]",
    "palette PNG with transparency 6000 x 6000": "png_palette(6000)",
    "RGBA PNG at the working size": "cv2.imencode('.png', np.full((2048, 2048, 4), 128, np.uint8))[1]",
    "lossless RGBA WebP at its limit": "save(Image.new('RGBA', (4096, 4096), (90, 100, 110, 128)), 'WEBP', "
                                       "lossless=True)",
    "progressive 4:4:4 JPEG 6000 x 4000": "save(photo(6000, 4000), 'JPEG', progressive=True, subsampling=0)",
    "12 MP JPEG turned by its EXIF": "save(photo(4000, 3000), 'JPEG', exif=turned())",
    "a phone photo 640 x 640": "save(photo(640, 640), 'JPEG')",
}

CHILD = r"""
import io, json, sys
import cv2, numpy as np
from PIL import Image
from inference.pipeline.common import quality
from inference.pipeline.common.decode import decode, inspect

def save(im, fmt, **kw):
    buf = io.BytesIO(); im.save(buf, fmt, **kw); return buf.getvalue()

def photo(w, h):
    small = np.random.default_rng(0).integers(30, 220, (h // 16, w // 16, 3), dtype=np.uint8)
    return Image.fromarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))

def png_palette(n):
    im = Image.new("P", (n, n), 0); im.putpalette([0, 0, 0] + [90] * 765)
    return save(im, "PNG", transparency=0)

def turned():
    exif = Image.Exif(); exif[0x0112] = 6; return exif

def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

out = {}
for name, make in json.loads(sys.argv[1]).items():
    data = bytes(eval(make))
    cost = inspect(data).cost
    open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS
    before = kb("VmRSS")
    d = decode(data)
    quality.check(d.rgb)
    out[name] = {"peak": kb("VmHWM") - before, "cost": cost, "shape": list(d.rgb.shape)}
    del d, data
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def measured() -> dict:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CASES)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.mark.parametrize("case", list(CASES))
def test_the_peak_memory_of_a_decode_is_within_its_announced_cost(measured, case):
    m = measured[case]
    peak, cost = m["peak"], m["cost"]
    assert max(m["shape"][:2]) <= 2048 and m["shape"][2] == 3
    assert peak <= cost, f"{case}: held {peak / MB:.0f} MB, announced {cost / MB:.0f} MB"
    assert cost <= 3 * peak + 64 * MB, f"{case}: announced {cost / MB:.0f} MB for {peak / MB:.0f} MB: too loose"


def test_large_decodes_hold_one_full_size_copy(measured):
    """The issue's numbers: a 16-bit 4800 x 4800 PNG held 616 MB (float64 copies of every
    pixel), an 8-bit 7000 x 7000 RGBA PNG 1.1 GB. Now the decoded pixels and a narrow strip."""
    grey = measured["16-bit grey PNG at its limit (5000 x 5000)"]["peak"]
    rgba = measured["8-bit RGBA PNG 7000 x 7000"]["peak"]
    assert grey < 2 * 5000 * 5000 + 64 * MB  # the 16-bit samples (50 MB) and the working copies
    assert rgba < 4 * 7000 * 7000 + 128 * MB  # Pillow's 4 bytes a pixel (196 MB) and the working copies


# -- the reduced path gives the same pixels -----------------------------------------------


def test_strips_give_pillows_resize(monkeypatch):
    """``_shrink`` strip by strip (strips of a few rows here) against Pillow's resize of the whole."""
    from inference.pipeline.common import decode as d

    monkeypatch.setattr(d, "STRIP_BYTES", 64 * 1024)
    rng = np.random.default_rng(0)
    for shape in [(700, 3000, 3), (1234, 5000, 4), (9000, 300, 3)]:
        im = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        size = d._working_size(im.size, 256)
        ours, lowest = d._shrink(im, size)
        ref = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=d.REDUCING_GAP)
        assert ours.mode == ref.mode and ours.size == ref.size
        diff = np.abs(np.asarray(ours, np.int16) - np.asarray(ref, np.int16))
        assert diff.max() <= 1, shape
        assert lowest == (int(np.asarray(im)[..., 3].min()) if shape[2] == 4 else 255)


def test_large_transparent_png_is_resampled_premultiplied():
    """Transparent black beside opaque red: resampled premultiplied, no dark fringe on white."""
    a = np.zeros((2050, 4100, 4), np.uint8)
    a[:, 2050:] = (255, 0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(a, "RGBA").save(buf, "PNG")
    d = decode(buf.getvalue())
    assert d.rgb.shape == (1024, 2048, 3) and d.original_size == (4100, 2050)
    assert d.rgb[..., 0].min() >= 254  # every pixel is white, red, or between them: never darker
    assert tuple(d.rgb[500, 100]) == (255, 255, 255) and tuple(d.rgb[500, 2000]) == (255, 0, 0)
    assert d.alpha is not None and d.alpha[500, 100] == 0 and d.alpha[500, 2000] == 255


def test_large_16_bit_png_is_reduced_with_its_levels():
    ramp = np.tile(np.linspace(0, 65535, 4096).astype(np.uint16), (1000, 1))
    d = decode(png_from(ramp))
    assert d.rgb.shape == (500, 2048, 3)
    row = d.rgb[250, :, 0].astype(int)
    expected = np.linspace(0, 255, 2048)
    assert np.abs(row[8:-8] - expected[8:-8]).max() <= 1.5 and np.all(np.diff(row[8:-8]) >= 0)


def test_large_photo_turned_by_its_exif_after_the_reduction():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left
    a = np.zeros((1500, 4500, 3), np.uint8)
    a[:, :2250] = (255, 0, 0)
    a[:, 2250:] = (0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=95, exif=exif)
    d = decode(buf.getvalue())
    assert d.rgb.shape == (2048, 683, 3) and d.original_size == (1500, 4500)
    assert d.rgb[:900].reshape(-1, 3).mean(0)[0] > 200 and d.rgb[1150:].reshape(-1, 3).mean(0)[2] > 200


def png_from(a: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", a)
    assert ok
    return buf.tobytes()
