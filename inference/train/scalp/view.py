"""The scalp view classifier: which of the five views (``inference.types.VIEWS``) a photo shows.

scalp_uze's file names give every photo's view (``inference.datasets.view_of``). A
MobileNetV2 ``ImageClassifier`` (ImageNet start) learns it from the WHOLE photo (not the
head crop: the face, the neck, the ears and the background tell the view), with the grade
CNN's trainer (``grade_cnn.train_classifier``) and this augmentation (``view_augment``):

- any quarter turn: Top-Down and many side photos arrive rotated, and a turn keeps the view;
- a horizontal mirror, which swaps Left and Right (a mirrored left profile is a right
  profile); a vertical mirror is a horizontal one and a half turn, so it is covered;
- random 78-100% squares of the photo and a brightness / contrast jitter.

Settings: every (size, epochs) of ``--view-sizes`` x ``--view-epochs`` is cross-fitted over
person-number folds (``common.group_folds``, the grade CNN's folds for the same seed) on the
train split; the one with the best out-of-fold accuracy (then macro-F1, then the cheaper
setting) is shipped, trained on the whole train split. The valid split is looked at once,
by ``evaluate_view`` at the end of the run, never to choose anything. The chosen setting's
out-of-fold probabilities go to ``build/scalp/view_oof.json`` (features for the grader).

At run time the classifier sees the whole photo once: no mirrored copies (averaging a
mirror would mix Left and Right).

Example (a few random photos, one epoch):
    >>> import numpy as np
    >>> photos = {32: np.random.default_rng(0).integers(0, 255, (10, 37, 37, 3), dtype=np.uint8)}
    >>> fit = cross_fit_settings(photos, np.arange(10) % 5, np.array(list("aabbccddee")),
    ...                          [ViewSetting(32, 1)], folds=2, batch=4)  # doctest: +ELLIPSIS
      view 32 px, 1 epochs, fold 1/2: ... photos, ...s
      view 32 px, 1 epochs, fold 2/2: ... photos, ...s
    >>> fit[0].oof.shape
    (10, 5)
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference.artifacts import SCALP_METRICS, SCALP_VIEW
from inference.models.classifier import ImageClassifier, export_classifier_onnx, save_classifier
from inference.types import VIEWS

from ..common import group_folds, read_rgb
from .context import ScalpRun, start
from .grade_cnn import GradeCNNConfig, store_size, train_classifier
from .splits import group_of

OOF_FILE = "view_oof.json"  # in build/scalp: the report and each train photo's out-of-fold probabilities
MIRRORED = {"Left": "Right", "Right": "Left"}  # the view a horizontal mirror shows
MIRROR = np.array([VIEWS.index(MIRRORED.get(v, v)) for v in VIEWS])  # class index -> its mirror's


def int_list(text: str) -> list[int]:
    """``"160,224"`` -> ``[160, 224]`` (an argparse type)."""
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--view-epochs", type=int_list, default=[6, 10],
                   help="view classifier: candidate epochs, comma-separated, chosen by out-of-fold accuracy "
                        "(0: no view classifier)")
    p.add_argument("--view-sizes", type=int_list, default=[160, 224],
                   help="view classifier: candidate input sizes (px), comma-separated")
    p.add_argument("--view-folds", type=int, default=5, help="view classifier cross-fitting folds (person groups)")
    p.add_argument("--view-lr", type=float, default=5e-4, help="view classifier peak learning rate (one-cycle)")
    p.add_argument("--reuse-view", action="store_true",
                   help="reuse the view classifier in --out and its out-of-fold probabilities "
                        "(build/scalp/view_oof.json) from an earlier run")


def wanted(args: argparse.Namespace) -> bool:
    return any(e > 0 for e in args.view_epochs) or bool(getattr(args, "reuse_view", False))


# ---------------------------------------------------------------- augmentation

def flip_and_turn(image: np.ndarray, label: int, mirror: bool, turns: int) -> tuple[np.ndarray, int]:
    """``image`` mirrored left-right (its label too: Left <-> Right) when ``mirror``, then
    turned ``turns`` quarter turns (the label stays)."""
    if mirror:
        image, label = image[:, ::-1], int(MIRROR[label])
    return np.rot90(image, turns), label


def view_augment(batch: np.ndarray, y: np.ndarray, size: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A training batch (N x S x S x 3 uint8, view indices) -> network input and the labels of
    the augmented photos: a random 78-100% square, a mirror half the time (Left <-> Right),
    any quarter turn, brightness and contrast jitter."""
    from inference.models.unet import preprocess_np

    out, labels = [], np.array(y, copy=True)
    n = batch.shape[1]
    for i, im in enumerate(batch):
        s = int(rng.integers(int(n * 0.78), n + 1))
        x0, y0 = int(rng.integers(0, n - s + 1)), int(rng.integers(0, n - s + 1))
        c, labels[i] = flip_and_turn(im[y0 : y0 + s, x0 : x0 + s], int(y[i]), bool(rng.random() < 0.5),
                                     int(rng.integers(4)))
        c = np.clip(c.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(c))
    return preprocess_np(out, size), labels


# ---------------------------------------------------------------- cross-fitting

@dataclass(frozen=True)
class ViewSetting:
    size: int
    epochs: int


@dataclass
class SettingFit:
    setting: ViewSetting
    oof: np.ndarray  # N x 5 out-of-fold probabilities
    report: dict = field(default_factory=dict)
    seconds: float = 0.0


def config_json(setting: ViewSetting, **meta) -> dict:
    # no test-time flips: a mirrored copy's probabilities would average Left with Right
    return {"classes": list(VIEWS), "size": setting.size, "arch": "torchvision mobilenet_v2", "center_crop": 1.0,
            "flips": [], "input": "the whole photo", **meta}


def store_photos(photos: list[np.ndarray], size: int) -> np.ndarray:
    """Photos kept at ``store_size(size)`` px square (training cuts 78-100% of them), as the
    product stretches a photo to the network's square input."""
    import cv2

    s = store_size(size)
    return np.stack([cv2.resize(p, (s, s), interpolation=cv2.INTER_AREA) for p in photos])


def view_report(y: np.ndarray, p: np.ndarray) -> dict:
    """Accuracy, macro-F1, each view's recall and the confusion matrix (rows true, columns predicted)."""
    from inference.evaluate.scalp import view_metrics

    return view_metrics([VIEWS[i] for i in y], [VIEWS[i] for i in p.argmax(1)])


def cross_fit_settings(photos: dict[int, np.ndarray], y: np.ndarray, groups: np.ndarray, settings: list[ViewSetting],
                       folds: int = 5, seed: int = 0, device: str = "cpu", lr: float = 5e-4, batch: int = 32,
                       imagenet_state: dict | None = None) -> list[SettingFit]:
    """Every setting cross-fitted over the same person folds: ``folds`` networks, each
    predicting the photos of the people it never saw. ``photos``: by input size, as ``store_photos``."""
    fold = group_folds(groups, folds, seed)
    fits = []
    for st in settings:
        cfg = GradeCNNConfig(epochs=st.epochs, batch=batch, lr=lr, folds=folds, size=st.size, seed=seed, device=device)
        oof = np.zeros((len(y), len(VIEWS)), np.float64)
        t_setting = time.monotonic()
        for k in range(folds):
            test = fold == k
            if not test.any() or test.all():
                continue
            t0 = time.monotonic()
            net = train_classifier(photos[st.size][~test], y[~test], cfg, len(VIEWS), imagenet_state, view_augment)
            oof[test] = ImageClassifier(net, config_json(st), device).probabilities(list(photos[st.size][test]))
            print(f"  view {st.size} px, {st.epochs} epochs, fold {k + 1}/{folds}: {int((~test).sum())} photos, "
                  f"{time.monotonic() - t0:.0f}s", flush=True)
        fits.append(SettingFit(st, oof, view_report(y, oof), round(time.monotonic() - t_setting, 1)))
    return fits


def choose(fits: list[SettingFit]) -> SettingFit:
    """The best out-of-fold accuracy, then macro-F1, then the cheaper setting (smaller, fewer epochs)."""
    return max(fits, key=lambda f: (f.report["accuracy"], f.report["macro_f1"], -f.setting.size, -f.setting.epochs))


# ---------------------------------------------------------------- the stage

def view_stage(run: ScalpRun) -> dict[str, np.ndarray] | None:
    """The view classifier in the weights folder and each train photo's out-of-fold
    probabilities by file name: trained here, or (``--reuse-view``) those of an earlier run;
    None when the run trains none (``--view-epochs 0``)."""
    oof_file, weights = run.build / OOF_FILE, run.out / SCALP_VIEW
    if run.args.reuse_view and oof_file.is_file() and weights.is_file():
        saved = json.loads(oof_file.read_text())
        if not weights.with_suffix(".onnx").is_file():  # a network trained elsewhere
            c = ImageClassifier.load(weights)
            export_classifier_onnx(c.net, c.cfg, weights.with_suffix(".onnx"))
        run.log.set("view", saved["report"] | {"reused": str(oof_file)})
        return {f: np.array(p) for f, p in saved["oof"].items()}
    if not any(e > 0 for e in run.args.view_epochs):
        return None
    oof = train_stage(run)
    oof_file.write_text(json.dumps({"classes": list(VIEWS), "report": run.log.data["view"],
                                    "oof": {f: [round(float(v), 6) for v in p] for f, p in oof.items()}}))
    return oof


def train_stage(run: ScalpRun) -> dict[str, np.ndarray]:
    """Cross-fit every setting on the train split's photos, ship the best one trained on all of
    them (``.pt`` and the float ONNX export; the int8 twin is the export stage's); returns each
    train photo's out-of-fold probabilities (the chosen setting's) by file name."""
    args, rows = run.args, run.train_rows
    settings = [ViewSetting(s, e) for s in args.view_sizes for e in args.view_epochs if e > 0]
    raw = [read_rgb(r["path"]) for r in rows]
    photos = {s: store_photos(raw, s) for s in {st.size for st in settings}}
    del raw
    y = np.array([VIEWS.index(r["view"]) for r in rows])
    groups = np.array([group_of(r["filename"]) for r in rows])
    fits = cross_fit_settings(photos, y, groups, settings, args.view_folds, args.seed, run.device, args.view_lr,
                              imagenet_state=run.encoder)
    best = choose(fits)
    t0 = time.monotonic()
    cfg = GradeCNNConfig(epochs=best.setting.epochs, lr=args.view_lr, folds=args.view_folds, size=best.setting.size,
                         seed=args.seed, device=run.device)
    net = train_classifier(photos[best.setting.size], y, cfg, len(VIEWS), run.encoder, view_augment)
    shipped_s = round(time.monotonic() - t0, 1)
    print(f"  view classifier, shipped copy: {len(y)} photos, {shipped_s:.0f}s", flush=True)
    cj = config_json(best.setting, trained=time.strftime("%Y-%m-%d"), data="scalp_uze train split, whole photos",
                     epochs=best.setting.epochs, photos=len(y))
    save_classifier(run.out / SCALP_VIEW, net, cj)
    export_classifier_onnx(net, cj, (run.out / SCALP_VIEW).with_suffix(".onnx"))
    report = {"photos": len(y), "folds": args.view_folds, "lr": args.view_lr,
              "chosen": {"size": best.setting.size, "epochs": best.setting.epochs},
              "settings": [{"size": f.setting.size, "epochs": f.setting.epochs, "oof_accuracy": f.report["accuracy"],
                            "oof_macro_f1": f.report["macro_f1"], "oof_recall": f.report["recall"],
                            "seconds": f.seconds} for f in fits],
              "oof_accuracy": best.report["accuracy"], "oof_macro_f1": best.report["macro_f1"],
              "oof_recall": best.report["recall"], "oof_confusion": best.report["confusion"],
              "shipped_seconds": shipped_s}
    run.log.set("view", report)
    tried = [(s["size"], s["epochs"], s["oof_accuracy"]) for s in report["settings"]]
    print("  view classifier, out of fold on train:",
          json.dumps({"chosen": report["chosen"], "tried": tried, "recall": report["oof_recall"]}), flush=True)
    return {r["filename"]: p for r, p in zip(rows, best.oof)}


def quantize_view(run: ScalpRun) -> dict:
    """The int8 twin of the view classifier, calibrated on train photos."""
    from ..int8 import quantize_scalp_view

    return quantize_scalp_view(run.out, [Path(r["path"]) for r in run.train_rows])


def evaluate_view(run: ScalpRun) -> dict:
    """The valid split through the view classifier as the service loads it (the int8 twin on
    the CPU), once, at the end of the run; also the float network's figures, and the CPU time
    of one photo."""
    from inference.evaluate.scalp import evaluate_views
    from inference.models.onnx_runtime import Backend

    backend = Backend(run.device)
    weights = run.out / SCALP_VIEW
    out = evaluate_views(ImageClassifier.load(weights, backend), run.valid_rows, timing=True)
    out["running"] = (backend.onnx_file(weights.with_suffix(".onnx")) or weights).name
    if out["running"] != weights.name:
        f = evaluate_views(ImageClassifier.load(weights), run.valid_rows)
        out["float"] = {k: f[k] for k in ("accuracy", "macro_f1", "recall")}
    return out


def only_view(args: argparse.Namespace) -> dict:
    """``python -m inference.train scalp --only view``: this stage alone (trained, or reused
    with ``--reuse-view``), its int8 twin, and its valid figures; the ``view`` key of
    ``scalp_metrics.json`` is replaced and the rest of the file kept. The run's log is
    ``build/scalp/view_run.json`` (a full run's ``run.json`` is left alone)."""
    if not wanted(args):
        raise SystemExit("--only view needs --view-epochs above 0 or --reuse-view")
    run = start(args, log_name="view_run.json")
    with run.log.timed("view"):
        if view_stage(run) is None:
            raise SystemExit(f"--reuse-view: no {SCALP_VIEW} in {run.out} or {OOF_FILE} in {run.build}")
    with run.log.timed("view_int8"):
        int8 = quantize_view(run)
    with run.log.timed("view_valid"):
        valid = evaluate_view(run)
    report = run.log.data["view"] | {"int8": int8, "valid": valid,
                                     "stage_seconds": dict(run.log.data["timings_s"])}
    run.log.set("view", report)
    metrics_file = run.out / SCALP_METRICS
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    metrics["view"] = report
    metrics_file.write_text(json.dumps(metrics, indent=1, ensure_ascii=False, default=float))
    return run.log.data


def set_valid(run: ScalpRun) -> None:
    """In a full run (evaluate stage): the view classifier's valid figures into its report."""
    if "view" in run.log.data and (run.out / SCALP_VIEW).is_file():
        run.log.set("view", run.log.data["view"] | {"valid": evaluate_view(run)})

