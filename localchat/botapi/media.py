"""Image helpers: read dimensions from file headers, build Telegram-style photo sizes.

Telegram stores every photo in several sizes (its thumbnails "s", "m", "x", "y"
and "w" are at most 90, 320, 800, 1280 and 2560 pixels on the longer side).
The local server keeps the uploaded bytes as the largest size, so downloading a
photo by its largest ``file_id`` gives back exactly what was uploaded, and
makes the smaller sizes with OpenCV when ``cv2`` imports (otherwise the smaller
sizes reuse the original bytes and only their declared width/height differ).

Everything here is plain synchronous code; :func:`render_variants` is CPU work
and is run in a worker thread by the caller.
"""

from __future__ import annotations

import io
import struct

PHOTO_SIZE_STEPS = (90, 320, 800, 1280, 2560)
"""Longer-side limits of the downscaled copies Telegram makes of a photo."""
THUMBNAIL_JPEG_QUALITY = 87
PLACEHOLDER_GRAY = 128
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
JPEG_EOI = 0xD9
WEBP_VP8_KEYFRAME_START = b"\x9d\x01\x2a"
WEBP_DIMENSION_MASK = 0x3FFF


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a JPEG, PNG, WebP or GIF image, or ``None``.

    Only the header is read. Falls back to Pillow for other formats when it is
    installed.
    """
    for reader in (_png_size, _jpeg_size, _webp_size, _gif_size, _pillow_size):
        size = reader(data)
        if size is not None:
            return size if size[0] > 0 and size[1] > 0 else None
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != JPEG_SOI:
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in JPEG_STANDALONE_MARKERS:
            pos += 2
            continue
        if marker == JPEG_EOI:
            return None
        (segment_length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in JPEG_SOF_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + segment_length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == WEBP_VP8_KEYFRAME_START:
        width, height = struct.unpack("<HH", data[26:30])
        return width & WEBP_DIMENSION_MASK, height & WEBP_DIMENSION_MASK
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & WEBP_DIMENSION_MASK) + 1, ((bits >> 14) & WEBP_DIMENSION_MASK) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _pillow_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # Pillow raises many types for garbage input
        return None


def scaled(width: int, height: int, longer_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled so that the longer side is ``longer_side``."""
    factor = longer_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def photo_variant_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Sizes Telegram would list for a ``width`` x ``height`` photo, smallest first.

    The last entry is always the original size.
    """
    longer = max(width, height)
    sizes = [scaled(width, height, step) for step in PHOTO_SIZE_STEPS if step < longer]
    sizes.append((width, height))
    return sizes


def render_variants(data: bytes, sizes: list[tuple[int, int]], resize: bool) -> list[bytes]:
    """Bytes for each entry of ``sizes`` (the last one is ``data`` itself).

    Smaller sizes are JPEG-encoded downscales when ``resize`` is true and OpenCV
    can decode the image; otherwise they reuse ``data``. Blocking: call it in a
    worker thread.
    """
    fallback = [data] * len(sizes)
    if not resize or len(sizes) == 1:
        return fallback
    try:
        import cv2
        import numpy as np
    except ImportError:
        return fallback
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        return fallback
    out = []
    for width, height in sizes[:-1]:
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(
            ".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY]
        )
        out.append(encoded.tobytes() if ok else data)
    out.append(data)
    return out


def placeholder_images(sizes: list[tuple[int, int]]) -> list[bytes | None]:
    """Plain gray JPEGs of the given sizes (``None`` without OpenCV). Blocking."""
    try:
        import cv2
        import numpy as np
    except ImportError:
        return [None] * len(sizes)
    out: list[bytes | None] = []
    for width, height in sizes:
        image = np.full((height, width, 3), PLACEHOLDER_GRAY, dtype=np.uint8)
        ok, encoded = cv2.imencode(".jpg", image)
        out.append(encoded.tobytes() if ok else None)
    return out
