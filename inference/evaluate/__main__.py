"""``python -m inference.evaluate scalp|face --data DIR``: evaluate the shipped weights.

``scalp``: DIR laid out like scalp_uze (``labels.csv``: split, filename, norwood_level,
grade3; the images under ``<split>/``). ``face``: DIR laid out like ACNE04
(``<split>/images``, ``<split>/labels`` in YOLO format, ``image_severity.csv``). Every split
found is evaluated (``--split`` picks one); the last line printed is one JSON object over
all evaluated photos. The models are loaded as the service loads them (``WEIGHTS_DIR``,
``INFERENCE_BACKEND``, ``INFERENCE_INT8``); nothing but DIR and the weights is read.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference.evaluate", description=(__doc__ or "").split("\n")[0])
    sub = p.add_subparsers(dest="domain", required=True)
    s = sub.add_parser("scalp", help="hair-loss grade on a scalp_uze-style folder")
    f = sub.add_parser("face", help="acne lesions, grade and routing on an ACNE04-style folder")
    for q in (s, f):
        q.add_argument("--data", type=Path, required=True)
        q.add_argument("--split", default=None, help="evaluate this split only")
        q.add_argument("--weights", type=Path, default=None, help="weights folder (default: $WEIGHTS_DIR or ./weights)")
        q.add_argument("--device", default="cpu")
    s.add_argument("--details", action="store_true", help="print per-view metrics and confusion matrices")
    f.add_argument("--details", action="store_true", help="print the 4-level confusion, counts and routing")
    a = p.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")

    from inference.service.settings import Settings

    settings = Settings.from_env(device=a.device, weights=a.weights)
    if a.domain == "face":
        from .face import main as face_main

        return face_main(a, settings)
    from .scalp import main as scalp_main

    return scalp_main(a, settings)


if __name__ == "__main__":
    sys.exit(main())
