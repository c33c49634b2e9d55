"""torch vs ONNX Runtime for the product's models, in one process on the same photos:
ms per photo for ``Runner.predict`` (router, detector, U-Net, grade) and whether the
answers agree. Usage: ``.venv/bin/python scripts/compare_backends.py [N_SCALP N_FACE]``.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.paths import shared_dir  # noqa: E402
from inference.service.runner import Job, Runner  # noqa: E402
from inference.service.settings import Settings  # noqa: E402


def main() -> int:
    n_scalp, n_face = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (16, 8)
    data = shared_dir() / "datasets"
    paths = sorted((data / "scalp_uze/valid").glob("*.jpg"))[:n_scalp] + sorted((data / "acne04/valid/images").glob("*.jpg"))[:n_face]
    imgs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    res, ms = {}, {}
    for backend in ("torch", "onnx"):
        os.environ["INFERENCE_BACKEND"] = backend
        r = Runner.setup(Settings.from_env(device="cpu"))
        for im in imgs[:3]:
            r.predict([Job(im)])
        t = time.perf_counter()
        res[backend] = [r.predict([Job(im)])[0] for im in imgs]
        ms[backend] = (time.perf_counter() - t) / len(imgs) * 1000
        print(f"{backend:5s} {ms[backend]:6.1f} ms per photo ({type(r.models['scalp'].detector.model).__name__})")
    pairs = list(zip(res["torch"], res["onnx"]))
    same = sum(a.domain == b.domain and a.output.grade.grade == b.output.grade.grade for a, b in pairs)
    dconf = max(abs(a.output.grade.confidence - b.output.grade.confidence) for a, b in pairs)
    print(f"speed-up {ms['torch'] / ms['onnx']:.2f}x; same domain and grade {same}/{len(pairs)}; largest confidence difference {dconf:.4f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (both backends loaded in turn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
