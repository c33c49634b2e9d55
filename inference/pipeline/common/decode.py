"""Decode: uploaded bytes -> an upright RGB uint8 array, or a named DecodeError.

Accepted: JPEG, PNG and WebP (the first frame of an animated one). Every mode
becomes RGB: CMYK (through its ICC profile when it has one), grayscale, palette,
16-bit grayscale, and transparency composited on white. The EXIF orientation is
applied, so the array is the photo as the user saw it.

The limits are checked in the order that costs least: the byte count before
opening, the pixel count from the header before any pixel is decoded (a
decompression bomb never gets its pixels allocated), truncation when the pixels
are loaded (an incomplete file is refused, never padded with grey).

Large photos are reduced so their long side is at most ``MAX_WORKING_SIDE``
(JPEGs are decoded at a reduced DCT scale first, which is fast): the models
look at 640 px or less, and the annotated image is at most 1280 px.

Example:
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (40, 30), 128).save(buf, "PNG")
    >>> d = decode(buf.getvalue())
    >>> d.rgb.shape, d.rgb.dtype.name, d.format
    ((30, 40, 3), 'uint8', 'PNG')
    >>> try:
    ...     decode(b"")
    ... except DecodeError as e:
    ...     e.code
    'empty'
"""
from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

MAX_BYTES = 20 * 1024 * 1024  # an uploaded file; Telegram's own photo limit is 10 MB
MAX_PIXELS = 50_000_000  # width x height from the header (a 50 MP phone camera passes)
MAX_WORKING_SIDE = 2048  # long side of the analysed image
FORMATS = ("JPEG", "PNG", "WEBP")
_PLUGINS = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}
BACKGROUND = (255, 255, 255)  # transparent pixels are composited on this

# code -> what went wrong (the service maps each code to an HTTP status)
ERRORS = {
    "empty": "the upload is empty",
    "too_large": f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB",
    "not_an_image": "the file is not an image",
    "unsupported_format": "only JPEG, PNG and WebP images are accepted",
    "too_many_pixels": f"the image has more than {MAX_PIXELS:,} pixels",
    "truncated": "the image file is incomplete",
}


class DecodeError(ValueError):
    """Bad input, with a stable ``code`` (a key of ``ERRORS``)."""

    def __init__(self, code: str, message: str | None = None):
        assert code in ERRORS, code
        self.code = code
        self.message = message or ERRORS[code]
        super().__init__(f"{code}: {self.message}")


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3 uint8, upright, at most MAX_WORKING_SIDE on the long side
    format: str  # JPEG / PNG / WEBP
    original_size: tuple[int, int]  # (width, height) after the EXIF rotation, before reduction
    # H x W uint8 opacity (0 transparent .. 255 opaque) where the file has transparency, else None
    alpha: np.ndarray | None = None

    @property
    def scale(self) -> float:
        """Analysed pixels per original pixel (1.0 when not reduced)."""
        return self.rgb.shape[1] / self.original_size[0]


# Other image formats, recognised only to answer "unsupported_format" rather than "not_an_image".
OTHER_SIGNATURES = (
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (4, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
HEIF_BRANDS = {
    **dict.fromkeys((b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"), "HEIC"),
    b"avif": "AVIF",
    b"avis": "AVIF",
}


def sniff(data: bytes) -> str | None:
    """The accepted format whose file signature ``data`` starts with, if any."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def sniff_other(data: bytes) -> str | None:
    """The name of another image format (HEIC, GIF, ...) whose signature ``data`` has, if any."""
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return HEIF_BRANDS[data[8:12]]
    for offset, sig, name in OTHER_SIGNATURES:
        if data[offset : offset + len(sig)] == sig:
            return name
    return None


def _open(data: bytes) -> Image.Image:
    """Parse the header with the one Pillow plugin the signature names.

    Not ``Image.open``: no other parser ever sees the untrusted bytes, an MPO
    (a phone JPEG with a depth map) opens as its JPEG, and Ultralytics' patch of
    ``Image.open`` (it tries to install a HEIF plugin on unknown files) is not in
    the way.
    """
    fmt = sniff(data)
    if fmt is None:
        other = sniff_other(data)
        if other:
            raise DecodeError("unsupported_format", f"{other} images are not accepted; send JPEG, PNG or WebP")
        raise DecodeError("not_an_image")
    try:
        im = _PLUGINS[fmt](io.BytesIO(data))
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError) as e:
        raise DecodeError("truncated", f"the {fmt} file is incomplete or corrupt") from e
    w, h = im.size
    if w < 1 or h < 1:
        raise DecodeError("not_an_image")
    if w * h > MAX_PIXELS:
        raise DecodeError("too_many_pixels", f"{w} x {h} is more than {MAX_PIXELS:,} pixels")
    return im


def _load(im: Image.Image, max_side: int | None) -> Image.Image:
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow's global on: refuse to pad silently
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    if im.format == "JPEG" and max_side and max(im.size) > 2 * max_side:
        r = max_side / max(im.size)
        im.draft("RGB", (math.ceil(im.width * r), math.ceil(im.height * r)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except Image.DecompressionBombError as e:
        raise DecodeError("too_many_pixels") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        raise DecodeError("truncated", f"the image file is incomplete or corrupt ({e})") from e
    return im


def _upright(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block: keep the stored orientation
        return im


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:
            pass
    return im.convert("RGB")


def has_transparency(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info) or (
        im.mode in ("L", "RGB") and "transparency" in im.info
    )


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency composited on ``BACKGROUND``."""
    if im.mode == "RGB" and "transparency" not in im.info:
        return im
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im)
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if has_transparency(im):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("RGB")


def opacity(im: Image.Image) -> Image.Image | None:
    """The alpha channel as an "L" image where some pixel is not fully opaque, else None: the
    composited pixels are not the photo, and the models must not measure them."""
    if not has_transparency(im):
        return None
    a = im.convert("RGBA").getchannel("A")
    return a if a.getextrema()[0] < 255 else None


def _reduce(im: Image.Image, max_side: int | None) -> Image.Image:
    if not max_side or max(im.size) <= max_side:
        return im
    r = max_side / max(im.size)
    size = (max(1, round(im.width * r)), max(1, round(im.height * r)))
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def decode(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_side: int | None = MAX_WORKING_SIDE,
) -> DecodedImage:
    """Bytes of a JPEG / PNG / WebP file -> ``DecodedImage``; raises ``DecodeError``."""
    if not data:
        raise DecodeError("empty")
    if len(data) > max_bytes:
        raise DecodeError("too_large", f"{len(data):,} bytes is more than {max_bytes:,}")
    im = _open(bytes(data))
    if im.width * im.height > max_pixels:
        raise DecodeError("too_many_pixels", f"{im.width} x {im.height} is more than {max_pixels:,} pixels")
    fmt = im.format
    stored = im.size
    im = _load(im, max_side)
    # draft() may have reduced the JPEG: the original size is the header's, rotated like the photo
    up = _upright(im)
    rotated = up.size != im.size and up.size == (im.height, im.width)
    original = (stored[1], stored[0]) if rotated else stored
    rgb = _reduce(to_rgb(up), max_side)
    arr = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DecodeError("not_an_image")
    a = opacity(up)
    alpha = np.ascontiguousarray(np.asarray(_reduce(a, max_side), dtype=np.uint8)) if a is not None else None
    return DecodedImage(arr, fmt, original, alpha)


def decode_rgb(data: bytes) -> np.ndarray:
    """Just the array (``decode(data).rgb``)."""
    return decode(data).rgb
