"""`python -m inference.train scalp|face`: re-train from the shared data; `quantize`: the int8 CPU exports.

Paths default to the working directory's (a checkout's root): ``weights/`` for the
outputs, ``build/`` for labels, runs and contact sheets, ``$SHARED_DIR`` or ``../shared``
for the read-only data."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.train.shared import shared_dir

# the figures the last line of output summarises (the tests read it)
SCALP_SUMMARY = ("n", "accuracy", "macro_f1", "uncertain_rate", "accuracy_when_certain")
FACE_SUMMARY = ("n", "map50", "map50_95", "precision", "recall", "fusion_precision", "fusion_recall", "grade_accuracy",
                "grade_accuracy4", "routing_accuracy")
ROUTER_SUMMARY = ("n", "accuracy", "scalp_accuracy", "face_accuracy", "neither_accuracy")
VIEW_SUMMARY = ("n", "accuracy", "recall", "ms_per_photo", "running")


def view_summary(report: dict) -> dict:
    """The view classifier's chosen setting, out-of-fold accuracy and valid figures."""
    valid = report.get("valid") or {}
    return {"chosen": report.get("chosen"), "oof_accuracy": report.get("oof_accuracy"),
            "oof_recall": report.get("oof_recall"), "valid": {k: valid.get(k) for k in VIEW_SUMMARY}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference.train", description=__doc__)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("scalp", help="labels, U-Net, YOLO and grader for hair loss")
    from . import scalp

    scalp.add_arguments(s)
    k = sub.add_parser("face", help="lesion YOLO, lesion U-Net, count grader and scalp/face/neither router for acne")
    from . import face

    face.add_arguments(k)
    qz = sub.add_parser("quantize",
                        help="re-make the int8 twins of the shipped detectors (for the CPU) without re-training")
    qz.add_argument("--shared", default=str(shared_dir()), help="the read-only data folder (train photos calibrate)")
    qz.add_argument("--out", default="weights", help="the weights folder")
    for q in (s, k):
        q.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
        q.add_argument("--scale", type=float, default=0.5, help="YOLO random zoom range")
        q.add_argument("--detector", default=None,
                       help="use this trained YOLO checkpoint instead of training one "
                            "(e.g. from the GPU run, inference.train.gpu)")
        q.add_argument("--shared", default=str(shared_dir()), help="the read-only data folder")
        q.add_argument("--out", default="weights", help="where the weights go")
        q.add_argument("--build", default="build", help="labels, runs and contact sheets")
    a = p.parse_args(argv)
    if a.what == "scalp" and a.only == "view":
        w = scalp.run(a)["view"]
        print(json.dumps({"view": view_summary(w), "minutes": round(sum(w["stage_seconds"].values()) / 60, 1)},
                         ensure_ascii=False))
    elif a.what == "scalp":
        data = scalp.run(a)
        v = data["valid_metrics"]
        print(json.dumps({"valid": {k: v[k] for k in SCALP_SUMMARY}, "mask_iou": v.get("mask_iou_check_subset"),
                          "view": view_summary(data["view"]) if "view" in data else None,
                          "minutes": data.get("total_minutes")}, ensure_ascii=False))
    elif a.what == "quantize":
        from . import int8

        print(json.dumps(int8.run(Path(a.shared), Path(a.out)), ensure_ascii=False))
    elif a.what == "face":
        data = face.run(a)
        v = data.get("valid_metrics") or {}
        r = data.get("router") or {}
        print(json.dumps({"valid": {k: v.get(k) for k in FACE_SUMMARY},
                          "router_valid": {k: r.get(k) for k in ROUTER_SUMMARY},
                          "minutes": data.get("total_minutes")}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
