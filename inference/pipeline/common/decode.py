"""Decode: uploaded bytes -> an upright RGB uint8 array, or a named DecodeError.

Accepted: JPEG, PNG and WebP (the first frame of an animated one). Every mode
becomes RGB: CMYK (through its ICC profile when it has one), grayscale, palette,
16-bit grayscale, and transparency composited on white. The EXIF orientation is
applied, so the array is the photo as the user saw it.

The limits are checked in the order that costs least: the byte count before
opening, the pixel count from the header before any pixel is decoded (a
decompression bomb never gets its pixels allocated; the limit depends on the format
and the bits per sample: ``PIXEL_LIMITS``), truncation when the pixels are loaded
(an incomplete file is refused, never padded with grey).

Large photos are reduced so their long side is at most ``MAX_WORKING_SIDE``
(JPEGs are decoded at a reduced DCT scale first, which is fast): the models
look at 640 px or less, and the annotated image is at most 1280 px.

Memory. ``inspect`` reads the header alone and says what decoding will cost at most
(``Header.cost``, bytes): the pixels as Pillow stores them, the decoder's own buffers and
the working copies. The service reserves that much of its decode budget before decoding
(``inference/service/budget.py``), so hostile files queue instead of multiplying memory.
The decoded pixels are the only full-size copy: a large image is converted (16-bit to
8-bit with integer arithmetic, palette and transparency to premultiplied RGBA) and
resampled strip by strip (``_shrink``: the horizontal pass of Pillow's LANCZOS on each
strip of rows, the vertical pass on the narrow result), and the EXIF rotation is applied
to the reduced image. ``tests/inference/pipeline/test_decode_memory.py`` measures the
peak against ``cost``.

Example:
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (40, 30), 128).save(buf, "PNG")
    >>> d = decode(buf.getvalue())
    >>> d.rgb.shape, d.rgb.dtype.name, d.format
    ((30, 40, 3), 'uint8', 'PNG')
    >>> h = inspect(buf.getvalue())
    >>> h.format, h.size, h.bits
    ('PNG', (40, 30), 8)
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
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

MAX_BYTES = 20 * 1024 * 1024  # an uploaded file; Telegram's own photo limit is 10 MB
MAX_PIXELS = 50_000_000  # width x height from the header (a 50 MP phone camera passes)
# (format, bits per sample) -> the most pixels accepted, from the header. A 16-bit PNG
# inflates twice the bytes per pixel of an 8-bit one (up to 8 a pixel: RGBA): half the
# pixels keep its work within the 8-bit limit's. Pillow's WebP decoder holds about 16
# bytes a pixel (libwebp's two canvases, the frame's bytes, the image) where the others
# hold 4 at most: 16.7 MP (4096 x 4096) is its share; phones send JPEG.
PIXEL_LIMITS = {
    ("JPEG", 8): MAX_PIXELS,
    ("PNG", 8): MAX_PIXELS,
    ("PNG", 16): MAX_PIXELS // 2,
    ("WEBP", 8): 4096 * 4096,
}
MAX_WORKING_SIDE = 2048  # long side of the analysed image
FORMATS = ("JPEG", "PNG", "WEBP")
_PLUGINS = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}
BACKGROUND = (255, 255, 255)  # transparent pixels are composited on this
STRIP_BYTES = 4 * 1024 * 1024  # a large image is converted and resampled this much (at 4 B/px) at a time
REDUCING_GAP = 3.0  # as Pillow's resize(reducing_gap=3.0): a box reduction first, down to 3x the size
# The working copies besides the decoded pixels, per pixel of the result (bytes; measured, with
# a margin: test_decode_memory.py): the RGB(A) images, the arrays, the alpha, the rotation,
# the quality gate's grey copies.
OUTPUT_BYTES_PER_PIXEL = 20
COST_SLACK = 8 * 1024 * 1024  # allocator rounding, the decoders' row buffers

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


@dataclass(frozen=True)
class Header:
    """What the header says, before any pixel is decoded."""

    format: str  # JPEG / PNG / WEBP
    size: tuple[int, int]  # (width, height) as stored
    mode: str  # Pillow's mode of the decoded pixels
    bits: int  # bits per sample: 8, or 16 (PNG)
    decoded_size: tuple[int, int]  # what is decoded: a large JPEG at a reduced DCT scale
    working_size: tuple[int, int]  # the result's (width, height), before the EXIF rotation
    cost: int  # bytes: at most this much memory is held at once while decoding (and gating) it

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


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


def _bits(im: Image.Image, data: bytes) -> int:
    """Bits per sample from the header: a PNG's IHDR bit depth (1, 2, 4 count as 8), a JPEG's
    sample precision."""
    if im.format == "PNG":
        return 16 if data[24] == 16 else 8  # IHDR: width, height, then the bit depth
    if im.format == "JPEG":
        return int(getattr(im, "bits", 8) or 8)
    return 8


def _pixel_bytes(mode: str) -> int:
    """Bytes a pixel takes in Pillow's memory: 1 for 1 / L / P, 2 for I;16, else 4 (RGB is
    stored as 4 bytes a pixel)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _working_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    w, h = size
    if not max_side or max(w, h) <= max_side:
        return w, h
    r = max_side / max(w, h)
    return max(1, round(w * r)), max(1, round(h * r))


def _jpeg_coefficients(im: Image.Image, size: tuple[int, int]) -> int:
    """Bytes of a progressive JPEG's coefficient buffers: libjpeg keeps every 8 x 8 block of
    every component (2 bytes a coefficient) at full size, whatever the DCT scale."""
    layers = getattr(im, "layer", None) or [("", 1, 1, 0)] * 3
    hmax = max(int(layer[1]) for layer in layers)
    vmax = max(int(layer[2]) for layer in layers)
    w, h = size
    total = 0
    for _, hs, vs, _ in layers:
        bw = math.ceil(math.ceil(w * int(hs) / hmax) / 8) + 1  # blocks, padded to the MCU
        bh = math.ceil(math.ceil(h * int(vs) / vmax) / 8) + 1
        total += bw * bh * 64 * 2
    return total


def _work_mode(im: Image.Image) -> str:
    """The mode a large image is resampled in: 8 bits a sample, transparency premultiplied."""
    if has_transparency(im):
        return "La" if im.mode in ("LA", "La") else "RGBa"
    if im.mode in ("RGB", "L", "CMYK"):
        return im.mode
    if im.mode in ("1", "I", "F") or im.mode.startswith("I;16"):
        return "L"
    return "RGB"


def _cost(im: Image.Image, stored: tuple[int, int], working: tuple[int, int]) -> int:
    """Bytes held at most while ``im`` (opened, drafted, not loaded) is decoded and reduced."""
    w, h = im.size
    total = w * h * _pixel_bytes(im.mode) + COST_SLACK
    if im.format == "WEBP":  # libwebp's canvas and the previous frame's, and the frame's bytes
        total += 3 * 4 * w * h
    elif im.format == "JPEG" and im.info.get("progressive"):
        total += _jpeg_coefficients(im, stored)
    tw, th = working
    if (tw, th) != (w, h):
        fy = max(1, int(h / th / REDUCING_GAP))
        work_px = 1 if _work_mode(im) == "L" else 4
        total += tw * math.ceil(h / fy) * work_px  # the horizontal pass's result
        total += 4 * STRIP_BYTES + 16 * w * max(fy, 1)  # a strip: cropped, converted, premultiplied, resampled
    else:  # small enough to convert whole: RGBA, the composite and its RGB, the alpha
        total += 3 * 4 * w * h
    return total + OUTPUT_BYTES_PER_PIXEL * tw * th


def _prepare(data: bytes, max_bytes: int, max_pixels: int, max_side: int | None) -> tuple[Image.Image, Header]:
    """Open, check every limit the header allows, draft a large JPEG; nothing is decoded."""
    if not data:
        raise DecodeError("empty")
    if len(data) > max_bytes:
        raise DecodeError("too_large", f"{len(data):,} bytes is more than {max_bytes:,}")
    im = _open(bytes(data))
    fmt = str(im.format)
    bits = _bits(im, data)
    stored = im.size
    limit = min(max_pixels, PIXEL_LIMITS.get((fmt, bits), max_pixels))
    if im.width * im.height > limit:
        kind = f" (the limit for a {bits}-bit {fmt})" if limit < min(max_pixels, MAX_PIXELS) else ""
        raise DecodeError("too_many_pixels", f"{im.width} x {im.height} is more than {limit:,} pixels{kind}")
    if fmt == "JPEG" and max_side and max(im.size) > 2 * max_side:
        r = max_side / max(im.size)
        im.draft("RGB", (math.ceil(im.width * r), math.ceil(im.height * r)))
    working = _working_size(im.size, max_side)
    header = Header(fmt, stored, im.mode, bits, im.size, working, _cost(im, stored, working))
    return im, header


def inspect(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_side: int | None = MAX_WORKING_SIDE,
) -> Header:
    """The header of a JPEG / PNG / WebP file and what decoding it costs; raises ``DecodeError``
    for everything the header already refuses (``decode`` would raise the same)."""
    return _prepare(data, max_bytes, max_pixels, max_side)[1]


def _load(im: Image.Image) -> Image.Image:
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow's global on: refuse to pad silently
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except Image.DecompressionBombError as e:
        raise DecodeError("too_many_pixels") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        raise DecodeError("truncated", f"the image file is incomplete or corrupt ({e})") from e
    return im


# EXIF orientation -> the transposition that shows the photo upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(im: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1 where there is none or the block is broken."""
    try:
        o = int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: keep the stored orientation
        return 1
    return o if o in _TRANSPOSE else 1


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


def _gray_top(im: Image.Image) -> int:
    """The white level of a 16/32-bit grey image: 65535 for 16-bit, else 255 unless a value exceeds it."""
    if im.mode.startswith("I;16"):
        return 65535
    extrema = im.getextrema()
    hi = extrema[1] if isinstance(extrema[1], (int, float)) else 0
    return 65535 if hi > 255 else 255


def gray8(im: Image.Image, top: int | None = None) -> Image.Image:
    """A 16-bit (or 32-bit) grey image -> "L", ``round(v * 255 / top)``: integer arithmetic for
    integers (no float64 copy: ``(v + 128) // 257`` for 16-bit), float32 for "F"."""
    top = top or _gray_top(im)
    a = np.asarray(im)
    if a.dtype.kind == "f":
        out = np.floor(np.clip(a.astype(np.float32) * np.float32(255.0 / top) + np.float32(0.5), 0, 255))
    else:  # one uint32 working array, changed in place
        v = a.astype(np.uint32) if a.dtype.kind == "u" else np.clip(a, 0, top).view(np.uint32)
        if top == 65535:
            v += 128
            v //= 257
        else:
            np.minimum(v, 255, out=v)
        out = v
    return Image.fromarray(out.astype(np.uint8), "L")


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency composited on ``BACKGROUND``."""
    if im.mode == "RGB" and "transparency" not in im.info:
        return im
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return gray8(im).convert("RGB")
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
    a = im.getchannel("A") if im.mode in ("RGBA", "LA") else im.convert("RGBA").getchannel("A")
    return a if a.getextrema()[0] < 255 else None


def _to_work(strip: Image.Image, mode: str, top: int) -> tuple[Image.Image, int]:
    """One strip of rows in the work mode (``_work_mode``), and its lowest alpha (255: opaque)."""
    if mode == "L" and strip.mode != "L":
        return (strip.convert("L") if strip.mode == "1" else gray8(strip, top)), 255
    if mode in ("RGBa", "La"):
        plain = mode[:-1] + "A"
        s = strip if strip.mode == plain else strip.convert(plain)
        return s.convert(mode), int(s.getextrema()[-1][0])
    return (strip if strip.mode == mode else strip.convert(mode)), 255


def _shrink(im: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, int]:
    """``im`` (any mode) resampled to ``size`` in its work mode, with no second full-size copy, and
    the lowest alpha of the full image (255: opaque).

    The same pixels as Pillow's ``resize(size, LANCZOS, reducing_gap=3.0)`` on the converted
    image: its box reduction and its horizontal pass work on each row alone, so they run on
    one strip of rows at a time (a strip is a whole number of the box's rows); its vertical
    pass then runs on the narrow result. RGBA is resampled premultiplied, as Pillow does.
    """
    mode = _work_mode(im)
    top = _gray_top(im) if mode == "L" and im.mode not in ("L", "1") else 255
    w, h = im.size
    tw, th = size
    fx = max(1, int(w / tw / REDUCING_GAP))
    fy = max(1, int(h / th / REDUCING_GAP))
    mid = Image.new(mode, (tw, math.ceil(h / fy)))  # reduced by the box, then resampled across
    rows = max(1, STRIP_BYTES // (4 * w) // fy) * fy
    lowest = 255
    for y in range(0, h, rows):
        strip, low = _to_work(im.crop((0, y, w, min(h, y + rows))), mode, top)
        lowest = min(lowest, low)
        if fx > 1 or fy > 1:
            strip = strip.reduce((fx, fy))
        mid.paste(strip.resize((tw, strip.height), Image.Resampling.LANCZOS, box=(0, 0, w / fx, strip.height)),
                  (0, y // fy))
    out = mid.resize((tw, th), Image.Resampling.LANCZOS, box=(0, 0, tw, h / fy))
    if mode in ("RGBa", "La"):
        out = out.convert(mode[:-1] + "A")
    if mode == "CMYK" and "icc_profile" in im.info:
        out.info["icc_profile"] = im.info["icc_profile"]
    return out, lowest


def decode(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_side: int | None = MAX_WORKING_SIDE,
) -> DecodedImage:
    """Bytes of a JPEG / PNG / WebP file -> ``DecodedImage``; raises ``DecodeError``."""
    im, header = _prepare(data, max_bytes, max_pixels, max_side)
    _load(im)
    turn = _orientation(im)
    if header.working_size != im.size:
        small, lowest = _shrink(im, header.working_size)
        del im  # the decoded pixels go before the small copies are made
        rgb_im = to_rgb(small)
        a = small.getchannel("A") if lowest < 255 else None
    else:
        rgb_im, a = to_rgb(im), opacity(im)
        del im
    if turn in _TRANSPOSE:
        rgb_im = rgb_im.transpose(_TRANSPOSE[turn])
        a = a.transpose(_TRANSPOSE[turn]) if a is not None else None
    w, h = header.size
    original = (h, w) if turn in (5, 6, 7, 8) else (w, h)
    arr = np.ascontiguousarray(np.asarray(rgb_im, dtype=np.uint8))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DecodeError("not_an_image")
    alpha = np.ascontiguousarray(np.asarray(a, dtype=np.uint8)) if a is not None else None
    return DecodedImage(arr, header.format, original, alpha)


def decode_rgb(data: bytes) -> np.ndarray:
    """Just the array (``decode(data).rgb``)."""
    return decode(data).rgb
