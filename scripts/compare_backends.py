"""torch vs ONNX Runtime for the product's models, in one process on the same photos:
ms per photo for the service's ``predict`` (router, detector, U-Net, grade) and whether the
answers agree. ONNX Runtime runs what the CPU service runs: the int8 twins where there are
some (``INFERENCE_INT8=off``: the float exports). Usage:
``.venv/bin/python scripts/compare_backends.py [N_SCALP N_FACE]``.
"""
from __future__ import annotations

import gc
import resource
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.datasets import valid_photos  # noqa: E402
from inference.service.domains import load_models  # noqa: E402
from inference.service.predict import Job, predict  # noqa: E402
from inference.service.settings import Settings  # noqa: E402
from inference.train.shared import shared_dir  # noqa: E402

WARMUP = 3  # untimed photos per backend


def main() -> int:
    n_scalp, n_face = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (16, 8)
    data = shared_dir() / "datasets"
    paths = valid_photos(data, "scalp_uze")[:n_scalp] + valid_photos(data, "acne04")[:n_face]
    if not paths:
        raise SystemExit(f"no photos under {data} (set SHARED_DIR)")
    imgs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    res, ms = {}, {}
    for backend in ("torch", "onnx"):
        models = load_models(Settings.from_env(device="cpu").replace(backend=backend))
        for im in imgs[:WARMUP]:
            predict(models, [Job(im)])
        t = time.perf_counter()
        res[backend] = [predict(models, [Job(im)])[0] for im in imgs]
        ms[backend] = (time.perf_counter() - t) / len(imgs) * 1000
        files = sorted({f for running in models.running.values() for f in running.values()})
        print(f"{backend:5s} {ms[backend]:6.1f} ms per photo ({', '.join(files)})")
        del models
        gc.collect()
    pairs = list(zip(res["torch"], res["onnx"]))
    graded = [(a, b) for a, b in pairs if a.output is not None and b.output is not None]
    same = sum(a.domain == b.domain and (a.output is None) == (b.output is None)
               and (a.output is None or a.output.grade.grade == b.output.grade.grade) for a, b in pairs)
    dconf = max((abs(a.output.grade.confidence - b.output.grade.confidence) for a, b in graded), default=0.0)
    print(f"speed-up {ms['torch'] / ms['onnx']:.2f}x; same domain and grade {same}/{len(pairs)}; "
          f"largest confidence difference {dconf:.4f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (both backends loaded in turn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
