"""Which train photos each scalp model learns from: person groups, the calibration fold,
the detector's cross-fitting folds and the grader's photos.

One person's five views share a number in scalp_uze's file names, so every split here
keeps a number's photos together."""
from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

from inference.datasets import person_number

from ..common import group_folds

CALIB_FRACTION = 0.2
GRADER_PHOTOS = ("all", "calibration")  # --grader-photos


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


@dataclass(frozen=True)
class Splits:
    """The train split divided for one run.

    ``fold_of``: each photo's detector fold (empty with one detector); ``held_out``: the
    calibration fold, the one detector's val set; ``grader_photos``: what the grader is
    fitted on; ``detector_unseen``: whether the detector's scores on those are out of sample."""

    fold_of: dict[str, int]
    held_out: set[str]
    grader_photos: set[str]
    detector_unseen: bool


def split_train(args: argparse.Namespace, train_rows: list[dict]) -> Splits:
    fold_of = detector_folds(train_rows, args.detector_folds, args.seed) if args.detector_folds else {}
    held_out = calibration_split(train_rows, CALIB_FRACTION, args.seed)
    photos, unseen = grader_photos(args, train_rows, fold_of, held_out)
    return Splits(fold_of, held_out, photos, unseen)


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
