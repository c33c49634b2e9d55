"""The scalp valid split graded as the service grades it (and the view classifier's views),
and the run's metrics file."""
from __future__ import annotations

import json
import time
from pathlib import Path

from inference.artifacts import SCALP_METRICS
from inference.evaluate.scalp import evaluate_scalp
from inference.models.face_detector import SCORE, FaceDetector
from inference.models.onnx_runtime import Backend
from inference.service.domains import load_router, load_scalp
from inference.types import VIEWS

from .context import ScalpRun
from .labels import read_corrections
from .view import set_valid

# a lower YuNet threshold also counts the faces the product leaves to the U-Net; by the hand
# checks (face_checks.json) some of them are not faces, so this leak is an upper bound
LEAK_LOW_SCORE = 0.7
# what scalp_metrics.json keeps of the run log
METRICS_KEYS = ("device", "timings_s", "torch_threads", "total_minutes", "unet_round1", "unet_round2", "labels",
                "view", "grade_cnn", "grader", "weights_mb", "valid_metrics")


def leak_finders(shared: Path) -> dict[str, FaceDetector]:
    """YuNet at the product's threshold (the faces the chain cuts) and at a lower one (faces the
    product does not trust, where what is measured rests on the U-Net alone)."""
    model = shared / "pretrained/yunet/yunet_s_320_320.onnx"
    return {f"yunet_{s:g}": FaceDetector(model, s) for s in (SCORE, LEAK_LOW_SCORE)}


def evaluate_stage(run: ScalpRun) -> dict:
    """The valid split through the models as the service loads them (ONNX where present),
    routed by the router when there is one; mask IoU on the looked-over check subset."""
    check_file = run.build / "check_subset.txt"
    check = set(check_file.read_text().split()) if check_file.exists() else set()
    check -= {f for f, c in read_corrections().items() if c["drop_mask"]}  # hand checks made after labelling
    backend = Backend(run.device)
    router = load_router(run.out, backend)
    chain = load_scalp(run.out, backend)
    metrics = evaluate_scalp(chain, run.valid_rows,
                             router=(lambda imgs: [d == "scalp" for d in router.classify(imgs)]) if router else None,
                             reference_masks={f: run.build / "masks" / (Path(f).stem + ".png") for f in check},
                             leak_finders=leak_finders(run.shared))
    run.log.set("valid_metrics", metrics)
    set_valid(run)  # the view classifier's valid figures, where this run trained or reused one
    sheets = answer_sheets(chain, run.valid_rows, run.build / "sheets")
    print("  answer sheets to look at:", ", ".join(str(p) for p in sheets))
    return metrics


SHEET_PER_VIEW = 12  # valid photos per view on the answer sheets
SHEET_TILE = (360, 540)  # px (w, h): each annotated answer letterboxed into this


def answer_sheets(chain, rows: list[dict], out_dir: Path, per_view: int = SHEET_PER_VIEW) -> list[Path]:
    """For each view, a contact sheet of the pictures the product sends (``annotate``: the class
    mask, boxes, legend, grade) for the first ``per_view`` valid photos by name, to look at by eye."""
    import cv2
    import numpy as np

    from inference.pipeline.common.draw import Annotation, annotate, scalp_headline

    from ..common import contact_sheet, read_rgb

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for view in VIEWS:
        chosen = sorted((r for r in rows if r["view"] == view), key=lambda r: r["filename"])[:per_view]
        if not chosen:
            continue
        images = [read_rgb(r["path"]) for r in chosen]
        tiles = []
        for r, im, a in zip(chosen, images, chain.analyze(images)):
            pic = annotate(im, Annotation("scalp", a.detections, a.segmentation.labels, a.segmentation.classes,
                                          a.grade, scalp_headline(a.measurements.exposed_scalp_ratio),
                                          (f"정답 {r['grade3']} · {r['filename'][:24]}",)))
            w, h = SHEET_TILE
            s = min(w / pic.shape[1], h / pic.shape[0])
            small = cv2.resize(pic, (int(pic.shape[1] * s), int(pic.shape[0] * s)), interpolation=cv2.INTER_AREA)
            tile = np.full((h, w, 3), 32, np.uint8)
            tile[: small.shape[0], : small.shape[1]] = small
            tiles.append(tile)
        path = out_dir / f"answer_{view.lower().replace('-', '_')}.png"
        cv2.imwrite(str(path), contact_sheet(tiles, cols=6))
        written.append(path)
    return written


def write_metrics(run: ScalpRun) -> None:
    """``scalp_metrics.json`` beside the weights: the run's figures and its arguments."""
    run.log.set("total_minutes", round((time.time() - run.started) / 60, 1))
    args = {k: v for k, v in vars(run.args).items() if k not in ("shared", "out", "build", "func")}
    (run.out / SCALP_METRICS).write_text(json.dumps({k: run.log.data.get(k) for k in METRICS_KEYS} | {"args": args},
                                                    indent=1, ensure_ascii=False, default=float))
