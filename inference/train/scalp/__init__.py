"""`python -m inference.train scalp`: labels, U-Net, YOLO, view classifier, grade CNN, grader, exports, metrics.

Stages (each timed, figures in ``build/scalp/run.json`` and printed), one module each:
1. ``unet_round1`` (``segmenter.py``): U-Net on LFW Part Labels + Figaro1k (hair / skin / background);
2. ``labels`` (``labels.py``): pseudo-labels for every scalp_uze photo (masks + head boxes), contact sheets;
3. ``unet_round2`` (``segmenter.py``): round 1 fine-tuned with the scalp pseudo-labels (train split only);
4. ``yolo`` (``detector.py``): YOLO on the head boxes classed by grade, train split minus a
   calibration fold (``splits.py``); or, with ``--detector-folds N``, cross-fitted: N
   detectors, each trained without one fold of people, and the shipped one on the whole train split;
5. ``view`` (``view.py``): the view classifier (Top-Down / Back / Front / Left / Right) on the
   whole photo, its settings chosen by person-grouped cross-validation on the train split,
   then trained on all of it; its out-of-fold probabilities in ``build/scalp/view_oof.json``
   (``--view-epochs 0``: none; ``--reuse-view``: an earlier run's; ``--only view``: this
   stage alone, with its int8 twin and valid figures);
6. ``grade_cnn`` (``grade_cnn.py``): the grade CNN on the detected head crops, cross-fitted
   over the whole train split for out-of-fold probabilities, then trained on all of it;
7. ``grader`` (``grader.py``): a softmax regression on every train photo (``--grader-photos
   all``): the U-Net's measurements and the CNN's out-of-fold probabilities, plus the
   detector's class scores where they are out of fold too (``--detector-folds``); or
   (``calibration``) on the calibration fold the detector never saw, with its scores;
8. ``export`` (``export.py``): ONNX exports (fp16 weights) and int8 twins into ``weights/``;
9. ``evaluate`` (``evaluate.py``): the valid split as the service runs it, ``scalp_metrics.json``.
"""
from __future__ import annotations

import argparse

from .context import start
from .detector import train_detectors
from .evaluate import evaluate_stage, write_metrics
from .export import export_stage
from .grade_cnn import CNN_CROPS, TARGETS, grade_cnn_stage
from .grader import grader_stage
from .labels import pseudo_labels
from .segmenter import round1, round2
from .splits import GRADER_PHOTOS, split_train
from .view import add_arguments as add_view_arguments
from .view import only_view, view_stage, wanted


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
    p.add_argument("--segmenter", default=None,
                   help="use this trained round-2 U-Net checkpoint instead of training round 2")
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
    p.add_argument("--cnn-crops", choices=CNN_CROPS, default=CNN_CROPS[0],
                   help="face-free: the crop with other skin and the face side of the brow line grey, as the "
                        "product shows it (measured by the chain with the face finder); plain: the head crop")
    p.add_argument("--cnn-lr", type=float, default=5e-4, help="grade CNN peak learning rate (one-cycle)")
    p.add_argument("--cnn-target", choices=TARGETS, default="grade",
                   help="grade CNN target: the 3 grades, or the 6 Norwood levels (summed into grades)")
    add_view_arguments(p)
    p.add_argument("--only", choices=("view",), default=None,
                   help="run one stage alone: 'view' trains (or with --reuse-view reuses) the view classifier, makes "
                        "its int8 twin, measures it on valid and writes its 'view' key into scalp_metrics.json")
    p.add_argument("--reuse-round1", action="store_true",
                   help="reuse build/scalp/unet_round1.pt from an earlier run with the same settings")
    p.add_argument("--reuse-grade-cnn", action="store_true",
                   help="reuse the grade CNN in --out and its out-of-fold probabilities "
                        "(build/scalp/grade_cnn_oof.json) from an earlier run with the same detector")


def run(args: argparse.Namespace) -> dict:
    if args.only == "view":
        return only_view(args)
    state = start(args)
    log = state.log
    with log.timed("unet_round1"):
        net1 = round1(state)
    with log.timed("labels"):
        labels = pseudo_labels(state, net1)
    with log.timed("unet_round2"):
        round2(state, net1, labels)
    splits = split_train(args, state.train_rows)
    with log.timed("yolo"):
        fold_detectors = train_detectors(state, labels, splits)
    view_oof = None
    if wanted(args):
        with log.timed("view"):
            view_oof = view_stage(state)
    cnn_oof = None
    if args.cnn_epochs > 0:
        with log.timed("grade_cnn"):
            cnn_oof = grade_cnn_stage(state)
    with log.timed("grader"):
        grader_stage(state, splits, fold_detectors, cnn_oof, view_oof)
    with log.timed("export"):
        export_stage(state)
    with log.timed("evaluate"):
        evaluate_stage(state)
    write_metrics(state)
    return log.data
