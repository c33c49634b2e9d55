"""The code-made "neither" photos the router learns (neither a scalp nor a face): documents
with Korean and Latin text, charts (matplotlib), landscapes, geometric scenes, gradients,
noise, drawn furry animals, terrain from matplotlib's sample DEMs, plus the few photos and
drawings shipped inside installed pip packages (``package_images``). Train and valid use
different seeds and different package files. Photos of people (matplotlib's Grace Hopper,
Ultralytics' Zidane) are kept out of both and reported apart."""
from __future__ import annotations

import gzip
import math
import random
from pathlib import Path

import cv2
import numpy as np

from .trainer import STORE_SIDE, RouteItem, random_crop, shrink

# added to the run's seed for the train and valid "neither" photos, so the two never share one
# (the int8 export calibrates on the train ones)
TRAIN_SEED, VALID_SEED = 11, 1000


def _font(size: int):
    import importlib.resources
    import io

    from PIL import ImageFont

    try:
        data = (importlib.resources.files("pylopdf_fonts_ko") / "NotoSansKR-Regular.otf").read_bytes()
        return ImageFont.truetype(io.BytesIO(data), size)
    except Exception:  # the font package is a product dependency; fall back anyway
        return ImageFont.load_default()


_WORDS = ("두피 피부 진단 결과 보고서 안내 사진 촬영 병원 예약 확인 문서 계약 영수증 합계 금액 날짜 "
          "invoice total report date page the of and patient name address phone 2024 2025 table figure "
          "summary result note Lorem ipsum dolor sit amet consectetur adipiscing elit").split()


def _rand_colour(rng: random.Random, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return tuple(rng.randint(lo, hi) for _ in range(3))


def _value_noise(rng: random.Random, s: int, octaves: int = 4) -> np.ndarray:
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    out = np.zeros((s, s), np.float32)
    for o in range(octaves):
        n = 2 ** (o + 2)
        out += cv2.resize(nrng.random((n, n)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC) / (2 ** o)
    out -= out.min()
    return out / max(out.max(), 1e-6)


def _document(rng: random.Random, s: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (s, int(s * 1.3)), tuple(rng.randint(225, 255) for _ in range(3)))
    d = ImageDraw.Draw(page)
    y = rng.randint(8, 30)
    ink = _rand_colour(rng, 0, 70)
    while y < page.height - 20:
        size = rng.choice((10, 12, 14, 16, 20, 26))
        if rng.random() < 0.15:  # a table row
            xs = sorted(rng.sample(range(10, s - 10), 4))
            d.line((10, y, s - 10, y), fill=ink, width=1)
            for x in xs:
                d.line((x, y, x, y + size + 6), fill=ink, width=1)
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 12)))
        d.text((rng.randint(8, 30), y), text, fill=ink, font=_font(size))
        y += size + rng.randint(4, 14)
    rgb = np.array(page)
    # a photo of the page: perspective, a desk around it, uneven light
    h, w = rgb.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    j = lambda: rng.uniform(-0.12, 0.12) * s  # noqa: E731
    dst = np.float32([[j() + s * 0.1, j() + s * 0.05], [s * 0.9 + j(), j() + s * 0.05],
                      [s * 0.95 + j(), s * 0.98 + j()], [s * 0.05 + j(), s * 0.98 + j()]])
    if rng.random() < 0.4:  # a scan: the page fills the frame
        dst = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(rgb, m, (s, s), borderMode=cv2.BORDER_CONSTANT, borderValue=_rand_colour(rng, 40, 200))
    light = 0.75 + 0.35 * _value_noise(rng, s, 2)[..., None]
    return np.clip(out * light, 0, 255).astype(np.uint8)


def _chart(rng: random.Random, s: int) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 4), dpi=s / 4)
    ax = fig.add_subplot(111)
    kind = rng.choice(("line", "bar", "scatter", "pie", "hist"))
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    if kind == "line":
        for _ in range(rng.randint(1, 4)):
            ax.plot(np.cumsum(nrng.normal(size=50)))
    elif kind == "bar":
        ax.bar(range(8), nrng.random(8))
    elif kind == "scatter":
        ax.scatter(nrng.normal(size=200), nrng.normal(size=200), c=nrng.random(200), s=8)
    elif kind == "pie":
        ax.pie(nrng.random(5) + 0.2)
    else:
        ax.hist(nrng.normal(size=500), bins=30)
    ax.set_title(" ".join(rng.choice(_WORDS[40:]) for _ in range(3)))
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return cv2.resize(rgb, (s, s), interpolation=cv2.INTER_AREA)


def _gradient(rng: random.Random, s: int) -> np.ndarray:
    a, b = np.array(_rand_colour(rng), np.float32), np.array(_rand_colour(rng), np.float32)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    if rng.random() < 0.5:
        t = np.cos(rng.uniform(0, math.pi)) * xx + np.sin(rng.uniform(0, math.pi)) * yy
    else:
        t = np.hypot(xx - rng.random(), yy - rng.random())
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    return (a + (b - a) * t[..., None]).astype(np.uint8)


def _noise(rng: random.Random, s: int) -> np.ndarray:
    if rng.random() < 0.5:
        n = np.stack([_value_noise(rng, s, rng.randint(2, 6)) for _ in range(3)], -1) * 255
    else:
        n = np.random.default_rng(rng.randrange(1 << 30)).normal(rng.uniform(60, 190), rng.uniform(10, 60), (s, s, 3))
    return np.clip(n, 0, 255).astype(np.uint8)


def _shapes(rng: random.Random, s: int) -> np.ndarray:
    img = np.full((s, s, 3), _rand_colour(rng), np.uint8)
    for _ in range(rng.randint(3, 30)):
        col = _rand_colour(rng)
        k = rng.random()
        if k < 0.3:
            cv2.circle(img, (rng.randrange(s), rng.randrange(s)), rng.randint(4, s // 3), col,
                       -1 if rng.random() < 0.7 else 3)
        elif k < 0.6:
            p, q = (rng.randrange(s), rng.randrange(s)), (rng.randrange(s), rng.randrange(s))
            cv2.rectangle(img, p, q, col, -1 if rng.random() < 0.7 else 3)
        elif k < 0.85:
            pts = np.array([[rng.randrange(s), rng.randrange(s)] for _ in range(rng.randint(3, 7))], np.int32)
            cv2.fillPoly(img, [pts], col)
        else:
            cv2.line(img, (rng.randrange(s), rng.randrange(s)), (rng.randrange(s), rng.randrange(s)), col,
                     rng.randint(1, 8))
    return img


def _landscape(rng: random.Random, s: int) -> np.ndarray:
    img = np.zeros((s, s, 3), np.float32)
    horizon = rng.uniform(0.3, 0.65)
    sky_top = np.array((rng.randint(20, 120), rng.randint(80, 170), rng.randint(170, 255)), np.float32)
    sky_low = np.array((rng.randint(170, 255), rng.randint(170, 240), rng.randint(180, 255)), np.float32)
    t = np.linspace(0, 1, s, dtype=np.float32)[:, None, None]
    img[:] = sky_top + (sky_low - sky_top) * t
    if rng.random() < 0.5:  # clouds
        c = _value_noise(rng, s, 5)
        img += (np.clip(c - 0.55, 0, 1) * 400)[..., None] * (t < horizon)
    for layer in range(rng.randint(1, 3)):  # ridges, farther ones lighter
        base = (horizon - 0.12 + 0.08 * layer) * s
        walk = np.cumsum(np.random.default_rng(rng.randrange(1 << 30)).normal(0, s * 0.012, s)) + base
        col = (np.array((rng.randint(40, 110), rng.randint(60, 130), rng.randint(50, 120)), np.float32)
               * (1 + 0.25 * (2 - layer)))
        for x in range(s):
            img[int(max(0, walk[x])) :, x] = col
    ground = np.array((rng.randint(40, 140), rng.randint(90, 170), rng.randint(20, 90)), np.float32)
    tex = _value_noise(rng, s, 6)[..., None]
    y0 = int(horizon * s)
    img[y0:] = ground * (0.6 + 0.6 * tex[y0:])
    if rng.random() < 0.3:  # a lake
        img[y0 : y0 + s // 6] = img[y0 - s // 6 : y0][::-1] * 0.8
    if rng.random() < 0.4:
        cv2.circle(img, (rng.randrange(s), rng.randint(5, int(horizon * s * 0.6) + 6)), rng.randint(6, 20),
                   (255, 240, 200), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _animal(rng: random.Random, s: int) -> np.ndarray:
    """A drawn furry animal's head (cat-like): directional fur texture, ears, eyes, nose."""
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    fur_col = np.array(rng.choice([(200, 140, 70), (120, 110, 100), (40, 35, 30), (230, 225, 215), (150, 100, 60),
                                   (90, 90, 95)]), np.float32)
    bg = _noise(rng, s) if rng.random() < 0.5 else _gradient(rng, s)
    fur = nrng.normal(0, 1, (s, s)).astype(np.float32)
    k = rng.randint(7, 21)
    kern = np.zeros((k, k), np.float32)
    cv2.line(kern, (0, rng.randrange(k)), (k - 1, rng.randrange(k)), 1.0, 1)
    fur = cv2.filter2D(fur, -1, kern / kern.sum())
    stripes = 1 + 0.25 * np.sin(np.mgrid[0:s, 0:s][0] / rng.uniform(6, 20)) if rng.random() < 0.5 else 1.0
    shade = stripes if np.isscalar(stripes) else stripes[..., None]
    fur_img = np.clip(fur_col * (0.8 + 0.5 * fur[..., None]) * shade, 0, 255)
    mask = np.zeros((s, s), np.uint8)
    cx, cy, r = (s // 2 + rng.randint(-s // 8, s // 8), s // 2 + rng.randint(-s // 10, s // 6),
                 int(s * rng.uniform(0.25, 0.42)))
    cv2.ellipse(mask, (cx, cy), (r, int(r * 0.85)), 0, 0, 360, 1, -1)
    for sx in (-1, 1):
        pts = np.array([[cx + sx * r // 3, cy - r // 2], [cx + sx * int(r * 0.95), cy - int(r * 0.5)],
                        [cx + sx * int(r * 0.8), cy - int(r * 1.3)]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    img = np.where(mask[..., None] > 0, fur_img, bg).astype(np.uint8)
    eye = rng.choice([(90, 180, 60), (220, 190, 40), (80, 140, 200)])
    for sx in (-1, 1):
        e = (cx + sx * r // 3, cy - r // 8)
        cv2.ellipse(img, e, (r // 7, r // 9), 0, 0, 360, eye, -1)
        cv2.ellipse(img, e, (r // 30 + 1, r // 10), 0, 0, 360, (10, 10, 10), -1)
    nose = np.array([[cx - r // 12, cy + r // 8], [cx + r // 12, cy + r // 8], [cx, cy + r // 5]], np.int32)
    cv2.fillPoly(img, [nose], (230, 140, 150))
    for sx in (-1, 1):
        for dy in (-1, 0, 1):
            cv2.line(img, (cx + sx * r // 8, cy + r // 4), (cx + sx * int(r * 1.1), cy + r // 4 + dy * r // 6),
                     (235, 235, 235), 1)
    return img


def _terrain(rng: random.Random, s: int) -> np.ndarray:
    """Shaded relief of matplotlib's sample DEMs (an aerial landscape)."""
    import matplotlib
    from matplotlib.colors import LightSource

    root = Path(matplotlib.get_data_path()) / "sample_data"
    files = [p for p in (root / "jacksboro_fault_dem.npz", root / "topobathy.npz") if p.exists()]
    if not files:
        return _landscape(rng, s)
    z = np.load(rng.choice(files))
    z = z[z.files[0]] if "elevation" not in z.files else z["elevation"]
    z = np.asarray(z, np.float64)
    h, w = z.shape
    c = rng.randint(min(h, w) // 3, min(h, w))
    y, x = rng.randint(0, h - c), rng.randint(0, w - c)
    z = z[y : y + c, x : x + c]
    cmap = matplotlib.colormaps[rng.choice(("gist_earth", "terrain", "copper", "viridis", "Greys"))]
    rgb = LightSource(azdeg=rng.uniform(0, 360), altdeg=rng.uniform(20, 60)).shade(z, cmap=cmap, blend_mode="soft")
    return cv2.resize((rgb[..., :3] * 255).astype(np.uint8), (s, s), interpolation=cv2.INTER_CUBIC)


MAKERS = {"document": _document, "chart": _chart, "landscape": _landscape, "shapes": _shapes,
          "gradient": _gradient, "noise": _noise, "animal": _animal, "terrain": _terrain}


def neither_set(n: int, seed: int, size: int = STORE_SIDE) -> list[RouteItem]:
    """``n`` code-made photos of neither a scalp nor a face, kinds in turn."""
    rng = random.Random(seed)
    kinds = list(MAKERS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append(RouteItem(shrink(MAKERS[kind](rng, size)), 2, f"neither:{kind}", f"{kind}_{seed}_{i}"))
    return out


PEOPLE = ("grace_hopper.jpg", "zidane.jpg")  # photos of people: reported apart, never trained on


def package_images() -> dict[str, list[tuple[str, np.ndarray]]]:
    """Photos and drawings shipped in installed pip packages: {"train", "valid", "people"}.

    matplotlib's sample data (PSF-style matplotlib licence; Grace Hopper: US Navy,
    public domain), Ultralytics' assets (AGPL-3.0), networkx's test baselines (BSD).
    Only used for training and measuring; none of them is shipped.
    """
    import matplotlib

    out = {"train": [], "valid": [], "people": []}
    sample = Path(matplotlib.get_data_path()) / "sample_data"
    cands: list[tuple[str, Path | np.ndarray, str]] = [
        ("Minduka_Present_Blue_Pack.png", sample / "Minduka_Present_Blue_Pack.png", "train"),
        ("logo2.png", sample / "logo2.png", "valid"),
        ("grace_hopper.jpg", sample / "grace_hopper.jpg", "people"),
    ]
    try:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        cands += [("bus.jpg", assets / "bus.jpg", "valid"), ("zidane.jpg", assets / "zidane.jpg", "people")]
    except ImportError:
        pass
    try:
        import networkx

        base = Path(networkx.__file__).parent / "drawing/tests/baseline"
        for i, p in enumerate(sorted(base.glob("*.png"))):
            cands.append((p.name, p, "train" if i % 2 == 0 else "valid"))
    except ImportError:
        pass
    mri = sample / "s1045.ima.gz"
    if mri.exists():
        a = np.frombuffer(gzip.open(mri).read(), np.uint16).astype(np.float32)
        side = int(math.isqrt(a.size))
        a = a[: side * side].reshape(side, side)
        a = (255 * (a - a.min()) / max(a.max() - a.min(), 1)).astype(np.uint8)
        cands.append(("s1045_mri", np.repeat(a[..., None], 3, 2), "train"))
    for name, src, part in cands:
        if isinstance(src, np.ndarray):
            rgb = src
        else:
            if not src.exists():
                continue
            bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        out[part].append((name, shrink(rgb, 640)))
    return out


def package_items(part: str, copies: int, seed: int) -> list[RouteItem]:
    """Random crops of the package images of ``part`` (``copies`` per image, the whole image first)."""
    rng = random.Random(seed)
    out = []
    for name, rgb in package_images()[part]:
        for k in range(copies):
            im = rgb if k == 0 else random_crop(rgb, rng, 0.3)
            out.append(RouteItem(shrink(im), 2, "neither:package", f"{name}#{k}"))
    return out
