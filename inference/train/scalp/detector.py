"""The scalp detector: YOLO on the head boxes, classed by the photo's grade.

One detector trained on the train split minus the calibration fold, or (``--detector-folds
N``) cross-fitted: N detectors each trained without one fold of people, so every train
photo can be graded by a detector that never saw its person, plus the shipped one on the
whole train split. A fold detector's checkpoint records its fold, checked before use."""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from inference.artifacts import SCALP_DETECTOR
from inference.types import GRADES

from ..yolo_trainer import YoloTrainConfig, slim_checkpoint, train_yolo, write_data_yaml
from .context import ScalpRun
from .labels import ScalpLabel, yolo_line
from .splits import Splits

YOLO_START = "pretrained/yolov5nu_coco_backbone-neck.pt"  # under the shared data folder


def fold_detector_name(k: int) -> str:
    return f"scalp_yolo_fold{k}.pt"


def fold_meta(fold: int | str, folds: int, seed: int, held_out: list[str]) -> dict:
    """What a cross-fitted detector's checkpoint records: its fold (``"all"`` for the shipped
    one) and the photos (file stems) it never saw, checked before its grades are used."""
    return {"fold": fold, "folds": folds, "fold_seed": seed, "held_out": sorted(held_out)}


def check_fold_detector(path: Path, fold: int, held_out: set[str]) -> None:
    """Refuse a fold detector trained on another split than this run's (another seed, fold count or label set)."""
    meta = torch.load(path, map_location="cpu", weights_only=False).get("project_meta", {})
    if meta.get("fold") != fold or set(meta.get("held_out", ())) != held_out:
        raise ValueError(f"{path}: trained for fold {meta.get('fold')!r} with {len(meta.get('held_out', ()))} "
                         f"held-out photos, but this run's fold {fold} holds out {len(held_out)} "
                         "(same --seed and --detector-folds?)")


def build_yolo_set(labels: list[ScalpLabel], rows: list[dict], val: set[str], yolo_dir: Path,
                   train: set[str] | None = None) -> Path:
    """Symlinked YOLO set of the train-split photos that have a head box: ``val`` under
    images/val, ``train`` (default: every other train photo) under images/train."""
    if yolo_dir.exists():
        shutil.rmtree(yolo_dir)
    by_name = {r["filename"]: r for r in rows}
    for lab in labels:
        if lab.split != "train" or lab.box is None:
            continue
        in_train = lab.filename not in val if train is None else lab.filename in train
        parts = [p for p, keep in (("train", in_train), ("val", lab.filename in val)) if keep]
        src = Path(by_name[lab.filename]["path"])
        h, w = lab.mask.shape
        for part in parts:
            img = yolo_dir / "images" / part / src.name
            img.parent.mkdir(parents=True, exist_ok=True)
            img.symlink_to(src.resolve())
            txt = yolo_dir / "labels" / part / (src.stem + ".txt")
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text(yolo_line(lab.box, GRADES.index(lab.grade), w, h) + "\n")
    return write_data_yaml(yolo_dir, GRADES)


def train_config(run: ScalpRun) -> YoloTrainConfig:
    a = run.args
    return YoloTrainConfig(imgsz=a.imgsz, epochs=a.epochs, batch=a.batch, device=run.yolo_device, seed=a.seed,
                           workers=a.workers, scale=a.scale)


def train_detectors(run: ScalpRun, labels: list[ScalpLabel], splits: Splits) -> list[Path]:
    """The shipped detector into the weights folder; returns the fold detectors (none
    without ``--detector-folds``). ``build/scalp/yolo`` is also what ``inference.train.gpu
    pack`` packs."""
    if splits.fold_of:
        return cross_fit_detectors(run, labels, splits.fold_of)
    data = build_yolo_set(labels, run.rows, splits.held_out, run.build / "yolo")
    if run.args.detector:
        best = Path(run.args.detector)
        run.log.set("detector_from", str(best))
    else:
        best = train_yolo(data, run.shared / YOLO_START, run.build / "yolo_runs", train_config(run))
    slim_checkpoint(best, run.out / SCALP_DETECTOR, meta={"classes": list(GRADES)})
    return []


def cross_fit_detectors(run: ScalpRun, labels: list[ScalpLabel], fold_of: dict[str, int]) -> list[Path]:
    """The shipped detector on every train photo (``--detector`` or trained here) and one
    detector per fold without that fold's people (``--fold-detectors`` or trained here).
    Each ends its schedule (``last``): the val set Ultralytics asks for is the fold a
    detector will grade (the shipped one's is in-sample), so no checkpoint is chosen on it."""
    args, build, tcy = run.args, run.build, train_config(run)
    folds = args.detector_folds
    boxed = {lab.filename for lab in labels if lab.split == "train" and lab.box is not None}

    def stems(names: set[str]) -> set[str]:
        return {Path(f).stem for f in names}

    start = run.shared / YOLO_START
    first = {f for f, k in fold_of.items() if k == 0}
    data = build_yolo_set(labels, run.rows, first, build / "yolo", train=set(fold_of))
    if args.detector:
        best = Path(args.detector)
        run.log.set("detector_from", str(best))
    else:
        best = train_yolo(data, start, build / "yolo_runs", tcy, checkpoint="last")
    slim_checkpoint(best, run.out / SCALP_DETECTOR,
                    meta={"classes": list(GRADES)} | fold_meta("all", folds, args.seed, []))
    paths = []
    for k in range(folds):
        held = {f for f, j in fold_of.items() if j == k}
        if args.fold_detectors:
            path = Path(args.fold_detectors) / fold_detector_name(k)
            check_fold_detector(path, k, stems(held & boxed))
        else:
            data = build_yolo_set(labels, run.rows, held, build / f"yolo_fold{k}", train=set(fold_of) - held)
            ck = train_yolo(data, start, build / f"yolo_runs_fold{k}", tcy, checkpoint="last")
            meta = {"classes": list(GRADES)} | fold_meta(k, folds, args.seed, sorted(stems(held & boxed)))
            path = slim_checkpoint(ck, build / "detectors" / fold_detector_name(k), meta=meta)
        paths.append(path)
    run.log.set("detector_folds", {"folds": folds,
                                   "photos_per_fold": [sum(j == k for j in fold_of.values()) for k in range(folds)],
                                   "fold_detectors": [str(p) for p in paths]})
    return paths
