"""Which photos the benchmark sends: the valid splits under a datasets root, as JPEG bytes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inference.datasets import VALID_PHOTOS

SCALP_SPLIT = VALID_PHOTOS["scalp_uze"]
FACE_SPLIT = VALID_PHOTOS["acne04"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes


def images_in(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if d.is_dir() else []


def face_domain_registered() -> bool:
    """Whether the service has a face domain (then the face photos join the scalp ones)."""
    from inference.service.domains import DOMAINS

    return "face" in DOMAINS


def photo_files(data: Path, with_face: bool) -> list[Path]:
    """The photos of the valid splits (a datasets root), or of ``data`` when it holds photos itself."""
    root = Path(data)
    direct = images_in(root)
    if direct:
        return direct
    scalp = images_in(root.joinpath(*SCALP_SPLIT))
    if not scalp:
        raise SystemExit(f"no photos in {root.joinpath(*SCALP_SPLIT)} (give --data DIR)")
    if not with_face:
        return scalp
    face = images_in(root.joinpath(*FACE_SPLIT))
    # interleave, so the first N photos hold both domains
    out = []
    for i in range(max(len(scalp), len(face))):
        out += [lst[i] for lst in (scalp, face) if i < len(lst)]
    return out


def load_photos(files: list[Path], n: int) -> list[Photo]:
    """The first ``n`` photos (cycling when there are fewer files), as bytes."""
    if not files:
        raise SystemExit("no photos")
    return [Photo(files[i % len(files)].name, files[i % len(files)].read_bytes()) for i in range(n)]
