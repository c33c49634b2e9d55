"""`python -m inference.train scalp`: labels, U-Net, YOLO, grader, exports, metrics.

Stages (each timed, figures in ``build/scalp/run.json`` and printed):
1. U-Net round 1 on LFW Part Labels + Figaro1k (hair / skin / background);
2. pseudo-labels for every scalp_uze photo (masks + head boxes), contact sheets;
3. U-Net round 2: round 1 fine-tuned with the scalp pseudo-labels (train split only);
4. YOLO on the head boxes classed by grade, train split minus a calibration fold;
   or, with ``--detector-folds N``, cross-fitted: N detectors, each trained without one
   fold of people, and the shipped one on the whole train split;
5. grade CNN on the detected head crops (``grade_cnn.py``): cross-fitted over the
   whole train split for out-of-fold probabilities, then trained on all of it;
6. grader: a softmax regression on every train photo (``--grader-photos all``): the U-Net's
   measurements and the CNN's out-of-fold probabilities, plus the detector's class scores
   where they are out of fold too (``--detector-folds``); or (``calibration``) on the
   calibration fold the detector never saw, with its scores;
7. weights (fp16) and ONNX exports into ``weights/``;
8. evaluation on the valid split.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from inference.artifacts import SCALP_CNN, SCALP_DETECTOR, SCALP_GRADER, SCALP_METRICS, SCALP_SEGMENTER
from inference.datasets import person_number
from inference.evaluate.metrics import classification_metrics
from inference.models.onnx_runtime import Backend
from inference.models.unet import UNetConfig, save_unet
from inference.models.unet import export_onnx as export_unet_onnx
from inference.pipeline.scalp.chain import DEFAULT_FLIPS, ScalpChain
from inference.pipeline.scalp.grade import (
    CNN_FEATURES,
    MEASURE_FEATURES,
    SCALP_FEATURES,
    LogisticGrader,
    scalp_features,
    select,
)
from inference.types import GRADES

from . import scalp_labels as L
from .common import RunLog, device_description, group_folds, pick_device, seed_everything
from .graders import fit_logistic
from .grade_cnn import TARGETS
from .segdata import SEG_CLASSES, SegSample, figaro_samples, lfw_samples, read_scalp_index
from .unet_trainer import UNetTrainConfig, predict_probs, train_unet
from .yolo_trainer import YoloTrainConfig, export_onnx as export_yolo_onnx, slim_checkpoint, train_yolo, write_data_yaml

CALIB_FRACTION = 0.2
GRADER_PHOTOS = ("all", "calibration")
GRADE_CNN_OOF = "grade_cnn_oof.json"  # in the build folder: the CNN's out-of-fold probabilities per train photo
CHECK_SUBSET = 48  # valid photos whose pseudo-masks are looked at and used for mask IoU


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imgsz", type=int, default=320, help="YOLO input size (px)")
    p.add_argument("--epochs", type=int, default=40, help="YOLO epochs")
    p.add_argument("--detector-folds", type=int, default=0,
                   help="cross-fit the detector over N person folds, so the grader learns from every train photo "
                        "(N+1 YOLO trainings; 0: a 20%% calibration fold, one training)")
    p.add_argument("--fold-detectors", default=None,
                   help="with --detector-folds: a folder of trained fold detectors (scalp_yolo_fold<K>.pt, "
                        "python -m inference.train.gpu yolo --fold K) instead of training them here")
    p.add_argument("--grader-photos", choices=GRADER_PHOTOS, default="all",
                   help="what the grader is fitted on: every train photo (measurements and the grade CNN's out-of-fold "
                        "probabilities; the detector's scores only where cross-fitted), or the calibration fold the "
                        "detector did not train on (its scores too; 20%% of the photos)")
    p.add_argument("--batch", type=int, default=16, help="YOLO batch size")
    p.add_argument("--segmenter", default=None, help="use this trained round-2 U-Net checkpoint instead of training round 2")
    p.add_argument("--seg-size", type=int, default=192, help="U-Net training crop size (px)")
    p.add_argument("--seg-infer-size", type=int, default=256, help="U-Net input size at run time (px)")
    p.add_argument("--seg-steps", type=int, default=450, help="U-Net round-1 steps (batches of 16)")
    p.add_argument("--seg-steps2", type=int, default=300, help="U-Net round-2 steps (batches of 16)")
    p.add_argument("--limit", type=int, default=0, help="use only N photos per split and source (smoke tests)")
    p.add_argument("--sheets", type=int, default=48, help="photos per contact sheet set")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cnn-epochs", type=int, default=8,
                   help="grade CNN epochs (about 16 s each on this CPU for 372 crops; 0: no grade CNN)")
    p.add_argument("--cnn-folds", type=int, default=5, help="grade CNN cross-fitting folds (person groups)")
    p.add_argument("--cnn-size", type=int, default=224, help="grade CNN input size (px)")
    p.add_argument("--cnn-lr", type=float, default=5e-4, help="grade CNN peak learning rate (one-cycle)")
    p.add_argument("--cnn-target", choices=TARGETS, default="grade",
                   help="grade CNN target: the 3 grades, or the 6 Norwood levels (summed into grades)")
    p.add_argument("--reuse-round1", action="store_true",
                   help="reuse build/scalp/unet_round1.pt from an earlier run with the same settings")
    p.add_argument("--reuse-grade-cnn", action="store_true",
                   help="reuse the grade CNN in --out and its out-of-fold probabilities (build/scalp/grade_cnn_oof.json) "
                        "from an earlier run with the same detector")


def group_of(filename: str) -> str:
    return person_number(filename)


def calibration_split(rows: list[dict], fraction: float, seed: int) -> set[str]:
    """Hold out whole number-groups (one person's five views share a number) per grade."""
    rng = random.Random(seed)
    groups = sorted({group_of(r["filename"]) for r in rows})
    rng.shuffle(groups)
    held, n = set(), 0
    for g in groups:
        if n >= fraction * len(rows):
            break
        held.add(g)
        n += sum(group_of(r["filename"]) == g for r in rows)
    return {r["filename"] for r in rows if group_of(r["filename"]) in held}


def detector_folds(train_rows: list[dict], folds: int, seed: int) -> dict[str, int]:
    """Each train photo's detector fold (person groups, the grade CNN's folds for the same seed)."""
    names = [r["filename"] for r in train_rows]
    return dict(zip(names, group_folds([group_of(f) for f in names], folds, seed).tolist()))


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
        raise ValueError(f"{path}: trained for fold {meta.get('fold')!r} with {len(meta.get('held_out', ()))} held-out photos, "
                         f"but this run's fold {fold} holds out {len(held_out)} (same --seed and --detector-folds?)")


def _read_rgb(path: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def seg_metrics(net, size: int, shared: Path, limit: int, device: str) -> dict:
    """IoU against real labels: LFW test (bg/skin/hair) and Figaro test (hair)."""
    lfw = lfw_samples(shared / "datasets/lfw_parts", "test")[: limit or 300]
    fig = figaro_samples(shared / "datasets/figaro1k", "testing")[: limit or 210]
    tot = np.zeros(3)
    cm = np.zeros((3, 3), np.int64)
    for s in lfw:
        im, lab = s.load()
        p = predict_probs(net, [im], size, device)[0].argmax(0)
        v = lab < 3
        cm += np.bincount(lab[v].astype(np.int64) * 3 + p[v], minlength=9).reshape(3, 3)
    inter = np.diag(cm)
    iou = inter / np.maximum(cm.sum(0) + cm.sum(1) - inter, 1)
    tp = fp = fn = 0
    for s in fig:
        im, lab = s.load()
        p = predict_probs(net, [im], size, device)[0].argmax(0) == 2
        h = lab == 2
        tp += int((h & p).sum()); fp += int((~h & p).sum()); fn += int((h & ~p).sum())
    del tot
    return {
        "lfw_test_iou": {c: round(float(v), 4) for c, v in zip(SEG_CLASSES, iou)},
        "lfw_test_n": len(lfw),
        "figaro_test_hair_iou": round(tp / max(tp + fp + fn, 1), 4),
        "figaro_test_n": len(fig),
    }


def make_pseudo_labels(rows, net, size, device, build: Path, shared: Path, log: RunLog, sheets: int, seed: int):
    faces = L.FaceFinder(shared / "pretrained/yunet/yunet_s_320_320.onnx")
    corrections = L.read_corrections()
    labels, images = [], {}
    for r in rows:
        rgb = _read_rgb(r["path"])
        probs = predict_probs(net, [rgb], size, device)[0]
        lab = L.make_label(r, rgb, probs, faces.faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), corrections)
        labels.append(lab)
        images[r["filename"]] = cv2.resize(rgb, (320, 320 * rgb.shape[0] // rgb.shape[1]), interpolation=cv2.INTER_AREA)
        if not lab.dropped:
            L.save_mask(build / "masks" / (Path(r["filename"]).stem + ".png"), lab.mask)
    # contact sheets: a random draw of train labels, and the valid subset used for mask IoU
    small = {}
    for lab in labels:
        im = images[lab.filename]
        s = im.shape[1] / lab.mask.shape[1]
        small[lab.filename] = (
            cv2.resize(lab.mask, (im.shape[1], im.shape[0]), interpolation=cv2.INTER_NEAREST),
            tuple(int(round(v * s)) for v in lab.box) if lab.box else None,
        )
    shown = []
    for split, tag in (("train", "train"), ("valid", "check")):
        pool = [lab for lab in labels if lab.split == split]
        rng = random.Random(seed)
        pick = rng.sample(pool, min(sheets, len(pool)))
        tiles = []
        for lab in pick:
            m, b = small[lab.filename]
            stem = lab.filename.split("_jpg")[0]
            tiles.append(L.draw_label(images[lab.filename], m, b, f"{stem} {lab.grade}" + (" X" if lab.dropped else "")))
        if tiles:
            p = build / "sheets" / f"scalp_{tag}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(p), L.contact_sheet(tiles))
            shown.append(str(p))
        if split == "valid":
            (build / "check_subset.txt").write_text("\n".join(l.filename for l in pick if not l.dropped))
    dropped = [(l.filename, l.dropped) for l in labels if l.dropped]
    log.set("labels", {"photos": len(labels), "dropped": len(dropped), "dropped_list": dropped, "contact_sheets": shown,
                       "faces_found": sum(l.face_found for l in labels),
                       "no_box": [l.filename for l in labels if l.box is None]})
    return labels


def build_yolo_set(labels, rows, val: set[str], yolo_dir: Path, train: set[str] | None = None) -> Path:
    """Symlinked YOLO set of the train-split photos that have a head box: ``val`` under
    images/val, ``train`` (default: every other train photo) under images/train."""
    if yolo_dir.exists():
        shutil.rmtree(yolo_dir)
    by_name = {r["filename"]: r for r in rows}
    for lab in labels:
        if lab.split != "train" or lab.box is None:
            continue
        parts = [p for p, keep in (("train", lab.filename not in val if train is None else lab.filename in train),
                                   ("val", lab.filename in val)) if keep]
        src = Path(by_name[lab.filename]["path"])
        h, w = lab.mask.shape
        for part in parts:
            img = yolo_dir / "images" / part / src.name
            img.parent.mkdir(parents=True, exist_ok=True)
            img.symlink_to(src.resolve())
            txt = yolo_dir / "labels" / part / (src.stem + ".txt")
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text(L.yolo_line(lab.box, GRADES.index(lab.grade), w, h) + "\n")
    return write_data_yaml(yolo_dir, GRADES)


def cross_fit_detectors(args, labels, rows, fold_of: dict[str, int], build: Path, out: Path, tcy: YoloTrainConfig,
                        shared: Path, log: RunLog) -> list[Path]:
    """The shipped detector on every train photo (``--detector`` or trained here) and one
    detector per fold without that fold's people (``--fold-detectors`` or trained here).
    Each ends its schedule (``last``): the val set Ultralytics asks for is the fold a
    detector will grade (the shipped one's is in-sample), so no checkpoint is chosen on it."""
    boxed = {lab.filename for lab in labels if lab.split == "train" and lab.box is not None}
    stems = lambda names: {Path(f).stem for f in names}  # noqa: E731
    start = shared / "pretrained/yolov5nu_coco_backbone-neck.pt"
    first = {f for f, k in fold_of.items() if k == 0}
    data = build_yolo_set(labels, rows, first, build / "yolo", train=set(fold_of))  # also what `inference.train.gpu pack` packs
    if args.detector:
        best = Path(args.detector)
        log.set("detector_from", str(best))
    else:
        best = train_yolo(data, start, build / "yolo_runs", tcy, checkpoint="last")
    slim_checkpoint(best, out / SCALP_DETECTOR,
                    meta={"classes": list(GRADES)} | fold_meta("all", args.detector_folds, args.seed, []))
    paths = []
    for k in range(args.detector_folds):
        held = {f for f, j in fold_of.items() if j == k}
        if args.fold_detectors:
            path = Path(args.fold_detectors) / fold_detector_name(k)
            check_fold_detector(path, k, stems(held & boxed))
        else:
            data = build_yolo_set(labels, rows, held, build / f"yolo_fold{k}", train=set(fold_of) - held)
            ck = train_yolo(data, start, build / f"yolo_runs_fold{k}", tcy, checkpoint="last")
            path = slim_checkpoint(ck, build / "detectors" / fold_detector_name(k),
                                   meta={"classes": list(GRADES)} | fold_meta(k, args.detector_folds, args.seed, sorted(stems(held & boxed))))
        paths.append(path)
    log.set("detector_folds", {"folds": args.detector_folds, "photos_per_fold": [sum(j == k for j in fold_of.values())
                                                                               for k in range(args.detector_folds)],
                               "fold_detectors": [str(p) for p in paths]})
    return paths


def grader_photos(args, train_rows: list[dict], fold_of: dict[str, int], held_out: set[str]) -> tuple[set[str], bool]:
    """The train photos the grader is fitted on, and whether the detector's scores on them are
    out of sample: every photo (through its fold's detector when cross-fitted, else without
    the detector's scores), or the calibration fold the one detector did not train on."""
    if fold_of:
        return set(fold_of), True
    if args.grader_photos == "calibration":
        return held_out, True
    if args.cnn_epochs <= 0:
        raise SystemExit("--grader-photos all fits the grader on the grade CNN's out-of-fold probabilities: "
                         "train the CNN (--cnn-epochs > 0), cross-fit the detector, or use --grader-photos calibration")
    return {r["filename"] for r in train_rows}, False


def features_for(models: ScalpChain, rows: list[dict], batch: int = 8):
    feats, analyses = [], []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        res = models.analyze([_read_rgb(r["path"]) for r in chunk])
        for a in res:
            best = a.detections[0] if a.detections else None
            feats.append(scalp_features(best, a.measurements))
            analyses.append(a)
    return np.array(feats), analyses


GRADER_CV_REPEATS = 5  # 105 photos: one 5-fold split's choice changes with its seed, so it is repeated


def fit_grader(x: np.ndarray, y: np.ndarray, seed: int = 0, features: tuple[str, ...] = SCALP_FEATURES,
               groups: np.ndarray | None = None, repeats: int = GRADER_CV_REPEATS,
               views: np.ndarray | None = None) -> tuple[LogisticGrader, dict]:
    """Softmax regression on the calibration fold; the L2 strength and class weighting
    chosen by 5-fold cross-validation on that fold, repeated over ``repeats`` splits (mean
    macro-F1, then accuracy), then refitted on all of it. ``groups``: one person's photos
    stay in one fold (as everywhere else in this training), so the choice is not made on
    views of people the grader has seen. The UNCERTAIN threshold comes from the
    cross-validated probabilities, not from the refitted grader's own photos. ``views``
    (one per photo): the chosen setting's cross-validated accuracy is also reported per
    view, to show where the grade fails on photos the grader did not fit."""
    balanced = balanced_weights(y)
    splits = cv_splits(len(y), groups, repeats, seed)
    scores, oof = {}, {}
    for l2 in (0.01, 0.05, 0.2, 1.0):
        for weighted in (False, True):
            runs = []
            for folds in splits:
                p = cv_probabilities(x, y, folds, features, l2, balanced if weighted else None)
                m = classification_metrics([GRADES[i] for i in y], [GRADES[i] for i in p.argmax(1)])
                runs.append((p, m["macro_f1"], m["accuracy"]))
            scores[(l2, weighted)] = (round(float(np.mean([f for _, f, _ in runs])), 4),
                                      round(float(np.mean([a for _, _, a in runs])), 4))
            oof[(l2, weighted)] = [p for p, _, _ in runs]
    (l2, weighted), (f1, acc) = max(scores.items(), key=lambda kv: kv[1])
    g = fit_logistic(x, y, features, l2=l2, class_weight=balanced if weighted else None)
    ps = oof[(l2, weighted)]
    g.uncertain_below = uncertain_threshold(np.concatenate(ps), np.tile(y, len(ps)))
    rate = float(np.mean([(p.max(1) < g.uncertain_below).mean() for p in ps]))
    report = {"l2": l2, "class_weighted": weighted, "cv_macro_f1": f1, "cv_accuracy": acc, "cv_repeats": repeats,
              "cv_grouped": groups is not None, "cv_uncertain_rate": round(rate, 4)}
    if views is not None:
        hit = np.mean([p.argmax(1) == y for p in ps], 0)  # each photo's share of correct repeats
        report["cv_accuracy_per_view"] = {str(v): {"n": int((views == v).sum()), "accuracy": round(float(hit[views == v].mean()), 4)}
                                          for v in sorted(set(views.tolist()))}
    return g, report


def balanced_weights(y: np.ndarray) -> np.ndarray:
    counts = np.bincount(y, minlength=3).astype(float)
    return counts.sum() / (3 * np.maximum(counts, 1))


def cv_splits(n: int, groups: np.ndarray | None, repeats: int, seed: int, k: int = 5) -> list[np.ndarray]:
    """``repeats`` assignments of ``n`` photos to ``k`` folds, whole groups (people) per fold when given."""
    if groups is not None:
        return [group_folds(groups, k, seed + r) for r in range(repeats)]
    return [np.random.default_rng(seed + r).permutation(n) % k for r in range(repeats)]


def cv_probabilities(x: np.ndarray, y: np.ndarray, folds: np.ndarray, features: tuple[str, ...], l2: float,
                     class_weight: np.ndarray | None) -> np.ndarray:
    """Each photo's grade probabilities from a grader fitted on the other folds."""
    p = np.zeros((len(y), 3))
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        if not tr.any():  # one group only: nothing to fit on
            p[te] = 1 / 3
            continue
        g = fit_logistic(x[tr], y[tr], features, l2=l2, class_weight=class_weight)
        p[te] = g.probabilities(x[te])
    return p


DESIGN_CHECK_REPEATS = 20


def compare_grader_designs(x: np.ndarray, features: tuple[str, ...], y: np.ndarray, groups: np.ndarray,
                           calib: np.ndarray, chosen: dict, seed: int, repeats: int = DESIGN_CHECK_REPEATS) -> dict:
    """The two grader designs graded on the same photos, the calibration fold the detector
    never saw: (a) fitted on that fold alone with the detector's scores, (b) fitted on every
    train photo without them (``--grader-photos all``). Grouped CV over ``repeats`` splits
    of all photos, each design with its own CV-chosen L2 and class weighting (``chosen``:
    design -> fit_grader's choice); mean accuracy and macro-F1 on the fold's photos."""
    keep = select(features, MEASURE_FEATURES + CNN_FEATURES)
    out = {}
    for design, sub, cols in (("calibration", calib, list(range(len(features)))), ("all", np.ones(len(y), bool), keep)):
        c = chosen[design]
        xs, ys = x[sub][:, cols], y[sub]
        accs, f1s = [], []
        for folds in cv_splits(len(ys), groups[sub], repeats, seed):
            p = np.zeros((len(y), 3))
            p[sub] = cv_probabilities(xs, ys, folds, tuple(features[i] for i in cols), c["l2"],
                                      balanced_weights(ys) if c["class_weighted"] else None)
            m = classification_metrics([GRADES[i] for i in y[calib]], [GRADES[i] for i in p[calib].argmax(1)])
            accs.append(m["accuracy"]); f1s.append(m["macro_f1"])
        out[design] = {"accuracy": round(float(np.mean(accs)), 4), "macro_f1": round(float(np.mean(f1s)), 4)}
    return {"photos": int(calib.sum()), "repeats": repeats} | out


def uncertain_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """UNCERTAIN below the lowest confidence (0.40 to 0.55) at which the cross-validated
    grades that are kept reach 0.8 accuracy, keeping at least 60% of the photos; 0.45 where
    no such point exists."""
    conf, pred = p.max(1), p.argmax(1)
    for t in np.round(np.arange(0.40, 0.555, 0.01), 2):  # rounded first: the grader compares with the stored value
        keep = conf >= t
        if keep.sum() >= 0.6 * len(y) and (pred[keep] == y[keep]).mean() >= 0.8:
            return float(t)
    return 0.45


def run(args: argparse.Namespace) -> dict:
    t_start = time.time()
    device = pick_device(args.device)
    seed_everything(args.seed)
    shared = Path(args.shared)
    out = Path(args.out)
    build = Path(args.build) / "scalp"
    build.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(build / "run.json", {"device": device_description(device), "args": vars(args)})
    rows = read_scalp_index(shared / "datasets/scalp_uze")
    if args.limit:
        rows = [r for s in ("train", "valid") for r in [r for r in rows if r["split"] == s][: args.limit]]
    lfw = lfw_samples(shared / "datasets/lfw_parts", "train") + lfw_samples(shared / "datasets/lfw_parts", "validation")
    fig = figaro_samples(shared / "datasets/figaro1k", "training")
    if args.limit:
        lfw, fig = lfw[: args.limit], fig[: args.limit]
    cfg = UNetConfig(SEG_CLASSES, image_size=args.seg_infer_size)
    enc = torch.load(shared / "pretrained/mobilenet_v2-b0353104.pth", map_location="cpu", weights_only=True)

    with log.timed("unet_round1"):
        r1 = build / "unet_round1.pt"
        if args.reuse_round1 and r1.exists():
            from inference.models.unet import load_unet

            net1 = load_unet(r1, Backend.torch(device)).net
            log.set("unet_round1_reused", str(r1))
        else:
            tc = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps, device=device, seed=args.seed)
            net1 = train_unet(cfg, [(lfw, 0.6), (fig, 0.4)], tc, encoder_state=enc)
            save_unet(r1, cfg, net1, half=False)
        log.set("unet_round1", seg_metrics(net1, cfg.image_size, shared, args.limit, device))
        print("  round 1:", json.dumps(log.data["unet_round1"]))

    with log.timed("labels"):
        labels = make_pseudo_labels(rows, net1, cfg.image_size, device, build, shared, log, args.sheets, args.seed)

    with log.timed("unet_round2"):
        scalp_train = [
            SegSample(Path(r["path"]), build / "masks" / (Path(r["filename"]).stem + ".png"), "scalp")
            for r, lab in zip(rows, labels)
            if r["split"] == "train" and not lab.dropped
        ]
        if args.segmenter:
            from inference.models.unet import load_unet

            net2 = load_unet(Path(args.segmenter), Backend.torch(device)).net
            log.set("segmenter_from", str(args.segmenter))
        else:
            tc2 = UNetTrainConfig(size=args.seg_size, steps=args.seg_steps2, device=device, seed=args.seed + 1, lr=1e-3)
            net2 = train_unet(cfg, [(lfw, 0.3), (fig, 0.2), (scalp_train, 0.5)], tc2, init_state=net1.state_dict())
        save_unet(out / SCALP_SEGMENTER, cfg, net2, half=True,
                  meta={"trained": time.strftime("%Y-%m-%d"), "data": "lfw_parts+figaro1k+scalp_uze pseudo-labels"})
        log.set("unet_round2", seg_metrics(net2, cfg.image_size, shared, args.limit, device))
        print("  round 2:", json.dumps(log.data["unet_round2"]))

    train_rows = [r for r in rows if r["split"] == "train"]
    fold_of = detector_folds(train_rows, args.detector_folds, args.seed) if args.detector_folds else {}
    held_out = calibration_split(train_rows, CALIB_FRACTION, args.seed)  # the detector's val fold (one detector)
    # the grader's photos, and whether the detector's scores on them are out of sample
    calib, det_unseen = grader_photos(args, train_rows, fold_of, held_out)
    fold_detectors: list[Path] = []
    with log.timed("yolo"):
        tcy = YoloTrainConfig(imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, device=device if device != "cuda" else "0",
                              seed=args.seed, workers=args.workers, scale=args.scale)
        if fold_of:
            fold_detectors = cross_fit_detectors(args, labels, rows, fold_of, build, out, tcy, shared, log)
        else:
            data = build_yolo_set(labels, rows, held_out, build / "yolo")  # also what `inference.train.gpu pack` packs
            if args.detector:
                best = Path(args.detector)
                log.set("detector_from", str(best))
            else:
                best = train_yolo(data, shared / "pretrained/yolov5nu_coco_backbone-neck.pt", build / "yolo_runs", tcy)
            slim_checkpoint(best, out / SCALP_DETECTOR, meta={"classes": list(GRADES)})

    cnn_oof = None
    if args.cnn_epochs > 0:
        with log.timed("grade_cnn"):
            oof_file = build / GRADE_CNN_OOF
            if args.reuse_grade_cnn and oof_file.is_file() and (out / SCALP_CNN).is_file():
                saved = json.loads(oof_file.read_text())
                cnn_oof = {f: np.array(p) for f, p in saved["oof"].items()}
                if not (out / SCALP_CNN).with_suffix(".onnx").is_file():  # a network trained elsewhere (inference.train.gpu grade-cnn)
                    from inference.models.classifier import ImageClassifier, export_classifier_onnx

                    c = ImageClassifier.load(out / SCALP_CNN)
                    export_classifier_onnx(c.net, c.cfg, (out / SCALP_CNN).with_suffix(".onnx"))
                log.set("grade_cnn", saved["report"] | {"reused": str(oof_file)})
            else:
                cnn_oof = grade_cnn_stage(args, out, device, train_rows, enc, log)
                oof_file.write_text(json.dumps({"report": log.data["grade_cnn"],
                                                "oof": {f: [round(float(v), 6) for v in p] for f, p in cnn_oof.items()}}))

    with log.timed("grader"):
        parts = _load_parts(out, device)
        calib_rows = [r for r in train_rows if r["filename"] in calib]
        y = np.array([GRADES.index(r["grade3"]) for r in calib_rows])
        # test-time flips: keep the set under which the detector alone grades the
        # calibration fold best (never looks at the valid split)
        from inference.models.yolo import YoloDetector

        tried = {}
        fold_dets = [YoloDetector(p, Backend.torch(device)) for p in fold_detectors]  # loaded once for the three flip sets
        # with the detector's scores out of sample: the flips under which it alone grades these
        # photos best (never looks at the valid split); else no flips (its scores are not used)
        for flips in (("none",), ("none", "h"), DEFAULT_FLIPS) if det_unseen else (("none",),):
            if fold_detectors:  # each photo through the detector that never saw its person
                x = oof_features(parts, fold_dets, [fold_of[r["filename"]] for r in calib_rows], calib_rows, flips)
            else:
                x, _ = features_for(ScalpChain(*parts, flips=flips), calib_rows)
            tried[flips] = (float((x[:, :3].argmax(1) == y).mean()), x)
        flips = max(tried, key=lambda f: tried[f][0])
        x, features = tried[flips][1], SCALP_FEATURES
        if cnn_oof is not None:  # the CNN's out-of-fold probabilities for these photos
            x = np.concatenate([x, np.array([cnn_oof[r["filename"]] for r in calib_rows])], 1)
            features = SCALP_FEATURES + CNN_FEATURES
        groups = np.array([group_of(r["filename"]) for r in calib_rows])
        x_all, features_all = x, features
        if not det_unseen:  # the detector trained on most of these photos: its scores would be in-sample
            keep = MEASURE_FEATURES + CNN_FEATURES
            x, features = x[:, select(features, keep)], keep
        grader, choice = fit_grader(x, y, args.seed, features, groups=groups,
                                    views=np.array([r["view"] for r in calib_rows]))
        design_check = None
        if not det_unseen and cnn_oof is not None:  # how the calibration-fold design would have done on its own photos
            in_fold = np.array([r["filename"] in held_out for r in calib_rows])
            chosen = {"calibration": fit_grader(x_all[in_fold], y[in_fold], args.seed, features_all, groups=groups[in_fold])[1],
                      "all": choice}
            design_check = compare_grader_designs(x_all, features_all, y, groups, in_fold, chosen, args.seed)
            print("  grader designs on the calibration fold's photos:", json.dumps(design_check))
        grader.flips = flips
        (out / SCALP_GRADER).write_text(json.dumps(grader.to_json(), indent=1))
        log.set("grader", {"photos": "all" if fold_of else args.grader_photos, "calibration_photos": len(calib_rows),
                           "detector_cross_fitted": bool(fold_detectors), "features": list(features),
                           "uncertain_below": grader.uncertain_below,
                           "flips": list(flips), "detector_alone_calib_accuracy":  # in-sample where the detector trained on these photos: not shown
                               {"+".join(f): round(a, 4) for f, (a, _) in tried.items()} if det_unseen else None,
                           **choice, "design_check": design_check})

    with log.timed("export"):
        from inference.models.unet import load_unet

        b = load_unet(out / SCALP_SEGMENTER)
        export_unet_onnx(b.net, b.cfg, out / "scalp_unet.onnx", half=True, meta=b.meta)
        export_yolo_onnx(out / SCALP_DETECTOR, args.imgsz, out / "scalp_yolo.onnx")
        from .int8 import quantize_exported, quantize_scalp_cnn, quantize_scalp_segmenter

        photos = [Path(r["path"]) for r in train_rows]
        log.set("int8", {"detector": quantize_exported(out / "scalp_yolo.onnx", photos),
                         "segmenter": quantize_scalp_segmenter(out, photos),
                         "grade_cnn": quantize_scalp_cnn(out, photos) if (out / SCALP_CNN).with_suffix(".onnx").is_file() else None})
        sizes = {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(out.glob("scalp_*"))}
        log.set("weights_mb", sizes)

    with log.timed("evaluate"):
        from inference.evaluate.scalp import evaluate_scalp
        from inference.service.domains import load_router, load_scalp

        valid = [r for r in rows if r["split"] == "valid"]
        check = set((build / "check_subset.txt").read_text().split()) if (build / "check_subset.txt").exists() else set()
        check -= {f for f, c in L.read_corrections().items() if c["drop_mask"]}  # hand checks made after labelling
        backend = Backend(device)  # as the service runs them
        router = load_router(out, backend)
        metrics = evaluate_scalp(load_scalp(out, backend), valid,
                                 router=(lambda imgs: [d == "scalp" for d in router.classify(imgs)]) if router else None,
                                 reference_masks={
            f: build / "masks" / (Path(f).stem + ".png") for f in check})
        log.set("valid_metrics", metrics)
    log.set("total_minutes", round((time.time() - t_start) / 60, 1))
    (out / SCALP_METRICS).write_text(json.dumps(
        {k: log.data.get(k) for k in ("device", "timings_s", "torch_threads", "total_minutes", "unet_round1", "unet_round2", "labels", "grade_cnn", "grader",
                                      "weights_mb", "valid_metrics")}
        | {"args": {k: v for k, v in vars(args).items() if k not in ("shared", "out", "build", "func")}},
        indent=1, ensure_ascii=False, default=float))
    return log.data


def oof_features(parts, fold_detectors: list, fold: list[int], rows: list[dict], flips) -> np.ndarray:
    """The grader's features of ``rows``, each photo through its own fold's detector (with
    the shared segmenter), so the detector's grades are as unseen as at run time."""
    _, segmenter, neutral = parts
    fold = np.asarray(fold)
    x = None
    for k, detector in enumerate(fold_detectors):
        idx = np.flatnonzero(fold == k)
        if not len(idx):
            continue
        xk, _ = features_for(ScalpChain(detector, segmenter, neutral, flips=flips), [rows[i] for i in idx])
        if x is None:
            x = np.zeros((len(rows), xk.shape[1]))
        x[idx] = xk
    return x


def grade_cnn_stage(args, out: Path, device: str, train_rows: list[dict], enc: dict, log: RunLog) -> dict:
    """Cross-fit the grade CNN on the train split's head crops, train the shipped one on all
    of them, export it; returns each train photo's out-of-fold probabilities by file name."""
    from inference.models.classifier import export_classifier_onnx, save_classifier

    from . import grade_cnn as G

    models = ScalpChain(*_load_parts(out, device), flips=("none",))
    crops = []
    for i in range(0, len(train_rows), 8):
        imgs = [_read_rgb(r["path"]) for r in train_rows[i : i + 8]]
        crops += models.crops(imgs, models.regions(imgs))
    crops = G.store_crops(crops, args.cnn_size)
    y = np.array([GRADES.index(r["grade3"]) for r in train_rows])
    groups = np.array([group_of(r["filename"]) for r in train_rows])
    cfg = G.GradeCNNConfig(epochs=args.cnn_epochs, folds=args.cnn_folds, seed=args.seed, device=device, size=args.cnn_size,
                           lr=args.cnn_lr, target=args.cnn_target)
    y_train = np.array([G.NORWOOD_LEVELS.index(r["norwood_level"]) for r in train_rows]) if args.cnn_target == "norwood" else y
    net, cj, report, oof = G.fit_and_report(crops, y, groups, cfg, enc, y_train=y_train)
    save_classifier(out / SCALP_CNN, net, cj)
    export_classifier_onnx(net, cj, (out / SCALP_CNN).with_suffix(".onnx"))
    log.set("grade_cnn", report)
    print("  grade CNN, out of fold on train:", json.dumps({k: report[k] for k in ("test_view", "oof_accuracy", "oof_macro_f1")}))
    return {r["filename"]: p for r, p in zip(train_rows, oof)}


def _load_parts(out: Path, device: str):
    from inference.models.unet import load_unet
    from inference.models.yolo import YoloDetector
    from inference.pipeline.scalp.segment import RegionSegmenter

    neutral = LogisticGrader(SCALP_FEATURES, np.zeros(len(SCALP_FEATURES)), np.ones(len(SCALP_FEATURES)),
                             np.zeros((3, len(SCALP_FEATURES))), np.zeros(3))
    backend = Backend.torch(device)
    detector = YoloDetector(out / SCALP_DETECTOR, backend)
    return detector, RegionSegmenter(load_unet(out / SCALP_SEGMENTER, backend)), neutral
