"""The README's example of an annotated answer, without redistributing anybody's photo.

Runs the real pipeline (the shipped weights) on PHOTO, then draws the answer's boxes,
masks and legend on a blank canvas of the photo's size instead of the photo itself:
the training photos (``../shared``) may not be copied into the project, and a user's
photo never should be. Usage::

    .venv/bin/python scripts/readme_images.py PHOTO [PHOTO ...] --out docs/annotated_example.jpg
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.pipeline.common.decode import DecodedImage  # noqa: E402
from inference.service.domains import Models, load_models  # noqa: E402
from inference.service.encode import draw  # noqa: E402
from inference.service.predict import Job, predict  # noqa: E402
from inference.service.settings import Settings  # noqa: E402

CANVAS = (232, 226, 218)  # a neutral paper colour under the overlay


def blank_annotation(models: Models, path: Path, domain: str) -> bytes:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    pred = predict(models, [Job(rgb, domain)])[0]
    if pred.output is None:
        raise SystemExit(f"{path}: the router saw neither a scalp nor a face")
    canvas = np.empty_like(rgb)
    canvas[:] = CANVAS
    # the service's drawing of this prediction, on the canvas in place of the photo
    return draw(DecodedImage(rgb=canvas, format="JPEG", original_size=(canvas.shape[1], canvas.shape[0])), pred)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("photos", nargs="+", type=Path)
    p.add_argument("--domain", default="auto")
    p.add_argument("--out", type=Path, default=Path("docs/annotated_example.jpg"))
    a = p.parse_args()
    models = load_models(Settings.from_env(device="cpu"))
    jpegs = [blank_annotation(models, ph, a.domain) for ph in a.photos]
    imgs = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
    h = min(im.shape[0] for im in imgs)
    row = np.hstack([cv2.resize(im, (round(im.shape[1] * h / im.shape[0]), h)) for im in imgs])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(a.out), row, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(a.out, row.shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
