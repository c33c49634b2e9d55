"""The scalp grade CNN: a MobileNetV2 (ImageNet start) fine-tuned on the head crops.

The detector's class scores come from a network that saw 360 of the 465 train photos.
This CNN is cross-fitted instead: ``cross_fit`` trains one copy per fold of person-number
groups and grades each train photo with the copy that never saw it (out-of-fold), so its
probabilities on every train photo are honest features for the grader; the shipped
network is trained on the whole train split (``train_grade_cnn``).

Crops: the head region the detector finds, with the U-Net's margin, face-free by default
(``ScalpChain.cnn_crops``: other skin and the face side of a found face's brow line grey, as
the product shows the crop), kept at ``CROP_STORE`` px for augmentation; the network sees
``size`` px, resized as at run time (``inference.models.unet.preprocess_np``).

Test-time view: training cuts random 78-100% squares out of each crop, so at run time the
network may see the crop's centre rather than all of it, and average its probabilities
over mirrored copies. ``cross_fit`` grades each held-out fold under every view in
``TEST_VIEWS`` and keeps the one with the best out-of-fold macro-F1 (train photos only);
the shipped network's config carries it (``ImageClassifier`` applies it).

Example (a few random crops, one epoch):
    >>> import numpy as np
    >>> crops = np.random.default_rng(0).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    >>> cfg = GradeCNNConfig(epochs=1, batch=4, size=32, folds=2)
    >>> fit = cross_fit(crops, np.array([0, 1, 2, 0, 1, 2]), np.array(list("aabbcc")), cfg)  # doctest: +ELLIPSIS
      grade CNN fold 1/2: ... photos, ...s
      grade CNN fold 2/2: ... photos, ...s
    >>> fit.oof.shape, fit.view in TEST_VIEWS
    ((6, 3), True)
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from inference.artifacts import SCALP_CNN
from inference.models.classifier import ImageClassifier, build_mobilenet, export_classifier_onnx, save_classifier
from inference.types import GRADES

from ..common import group_folds, read_rgb
from .chain import face_finder, load_chain
from .context import ScalpRun
from .splits import group_of

CNN_CROPS = ("face-free", "plain")  # face-free: as the product shows the crop (ScalpChain.cnn_crop)
CROP_STORE = 256  # px: crops are kept at this size; training cuts 78-100% of them
OOF_FILE = "grade_cnn_oof.json"  # in build/scalp: the out-of-fold probabilities per train photo, and the report
# candidate test-time views (centre share of each side, flips), the first the plain one
TEST_VIEWS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (1.0, ()), (0.875, ()), (1.0, ("h",)), (0.875, ("h",)), (0.875, ("h", "v")),
)


# scalp_uze's Norwood levels and the grade each belongs to (labels.csv: grade3 follows the level)
NORWOOD_GRADE = {"LEVEL_2": "LOW", "LEVEL_3": "MIDDLE", "LEVEL_4": "MIDDLE", "LEVEL_5": "HIGH", "LEVEL_6": "HIGH",
                 "LEVEL_7": "HIGH"}
NORWOOD_LEVELS = tuple(NORWOOD_GRADE)
TARGETS = ("grade", "norwood")


def norwood_groups() -> list[list[int]]:
    """For each grade, the Norwood outputs whose probabilities add up to it."""
    return [[i for i, lv in enumerate(NORWOOD_LEVELS) if NORWOOD_GRADE[lv] == g] for g in GRADES]


@dataclass(frozen=True)
class GradeCNNConfig:
    epochs: int = 8
    batch: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    folds: int = 5
    size: int = 224
    seed: int = 0
    device: str = "cpu"
    target: str = "grade"  # what the network learns: the 3 grades, or the 6 Norwood levels summed into grades

    @property
    def outputs(self) -> int:
        return len(NORWOOD_LEVELS) if self.target == "norwood" else len(GRADES)


def store_size(size: int) -> int:
    """The side crops are kept at for a network of input ``size`` (256 for 224: training cuts 78-100% of it)."""
    return round(size * CROP_STORE / 224)


def store_crops(crops: list[np.ndarray], size: int = 224) -> np.ndarray:
    import cv2

    s = store_size(size)
    return np.stack([cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA) for c in crops])


def _augment(batch: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    from inference.models.unet import preprocess_np

    out = []
    n = batch.shape[1]
    for im in batch:
        s = int(rng.integers(int(n * 0.78), n + 1))
        x0, y0 = int(rng.integers(0, n - s + 1)), int(rng.integers(0, n - s + 1))
        c = im[y0 : y0 + s, x0 : x0 + s]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        if rng.random() < 0.5:  # crowns are photographed in any orientation
            c = c[::-1]
        c = np.clip(c.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(c))
    return preprocess_np(out, size)


# a training batch's augmentation: (images N x S x S x 3 uint8, labels, input size, rng) ->
# (network input N x 3 x size x size, the labels of the augmented images)
Augment = Callable[[np.ndarray, np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def grade_augment(batch: np.ndarray, y: np.ndarray, size: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The grade CNN's augmentation: no change of label (a mirrored crown has the same grade)."""
    return _augment(batch, size, rng), y


def train_grade_cnn(crops: np.ndarray, y: np.ndarray, cfg: GradeCNNConfig, imagenet_state: dict | None = None):
    """One network on ``crops`` (N x S x S x 3 uint8) and grades ``y`` (0..2)."""
    return train_classifier(crops, y, cfg, cfg.outputs, imagenet_state, grade_augment)


def train_classifier(images: np.ndarray, y: np.ndarray, cfg: GradeCNNConfig, outputs: int,
                     imagenet_state: dict | None = None, augment: Augment = grade_augment):
    """One MobileNetV2 with ``outputs`` classes on ``images`` (N x S x S x 3 uint8) and labels
    ``y`` (0..outputs-1), each batch through ``augment``: class-weighted, label-smoothed
    cross-entropy, AdamW with a one-cycle schedule (the grade CNN's and the view classifier's
    trainer; ``cfg.target`` is not read here)."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # channels-last: the same network, faster to train on the CPU (scripts/bench_train_step.py:
    # 2.0 -> 1.5 s a batch of 32 at 224 px on the 2-core machine)
    net = build_mobilenet(outputs, imagenet_state).to(cfg.device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = int(np.ceil(len(y) / cfg.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=max(1, cfg.epochs * per_epoch), pct_start=0.15)
    counts = np.bincount(y, minlength=outputs).astype(np.float64)
    weight = torch.tensor(len(y) / (outputs * np.maximum(counts, 1)), dtype=torch.float32, device=cfg.device)
    net.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(y))
        for b in range(0, len(order), cfg.batch):
            idx = order[b : b + cfg.batch]
            if len(idx) < 2:  # batch norm cannot train on one image; it is seen next epoch
                continue
            xb, yb = augment(images[idx], y[idx], cfg.size, rng)
            x = torch.from_numpy(xb).to(cfg.device, memory_format=torch.channels_last)
            t = torch.from_numpy(yb).long().to(cfg.device)
            loss = torch.nn.functional.cross_entropy(net(x), t, weight=weight, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return net.to(memory_format=torch.contiguous_format).eval()


def config_json(cfg: GradeCNNConfig, view: tuple[float, tuple[str, ...]] = TEST_VIEWS[0], **meta) -> dict:
    center, flips = view
    norwood = cfg.target == "norwood"
    extra = {"target": "norwood", "outputs": cfg.outputs, "output_groups": norwood_groups()} if norwood else {}
    return {"classes": list(GRADES), "size": cfg.size, "arch": "torchvision mobilenet_v2",
            "center_crop": center, "flips": list(flips), **extra, **meta}


def predict(net, crops: np.ndarray, cfg: GradeCNNConfig,
            view: tuple[float, tuple[str, ...]] = TEST_VIEWS[0]) -> np.ndarray:
    """Probabilities as the product computes them (``ImageClassifier`` with this test-time view)."""
    return ImageClassifier(net, config_json(cfg, view), cfg.device).probabilities(list(crops))


@dataclass
class CrossFit:
    """Out-of-fold probabilities (N x 3) under the chosen test-time ``view``, and each
    candidate view's out-of-fold (macro-F1, accuracy)."""
    oof: np.ndarray
    view: tuple[float, tuple[str, ...]]
    scores: dict = field(default_factory=dict)


def _scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    from inference.evaluate.metrics import classification_metrics

    m = classification_metrics([GRADES[i] for i in y], [GRADES[i] for i in p.argmax(1)])
    return round(m["macro_f1"], 4), round(m["accuracy"], 4)


def cross_fit(crops: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: GradeCNNConfig,
              imagenet_state: dict | None = None, views=TEST_VIEWS, y_train: np.ndarray | None = None) -> CrossFit:
    """``cfg.folds`` networks, each graded on the person groups it never saw, under every
    candidate test-time view; the view with the best out-of-fold macro-F1 (then accuracy,
    then the earlier, cheaper one) is kept."""
    fold = group_folds(groups, cfg.folds, cfg.seed)
    oof = {v: np.zeros((len(y), len(GRADES)), np.float64) for v in views}
    for k in range(cfg.folds):
        test = fold == k
        if not test.any() or test.all():
            continue
        t0 = time.monotonic()
        net = train_grade_cnn(crops[~test], (y if y_train is None else y_train)[~test], cfg, imagenet_state)
        for v in views:
            oof[v][test] = predict(net, crops[test], cfg, v)
        print(f"  grade CNN fold {k + 1}/{cfg.folds}: {int((~test).sum())} photos, {time.monotonic() - t0:.0f}s",
              flush=True)
    scores = {v: _scores(y, p) for v, p in oof.items()}
    best = max(views, key=lambda v: (scores[v], -views.index(v)))
    return CrossFit(oof[best], best, scores)


def fit_and_report(crops: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: GradeCNNConfig,
                   imagenet_state: dict | None = None, y_train: np.ndarray | None = None, **meta):
    """The training stage: cross-fit (out-of-fold probabilities, the test-time view), then the
    shipped network on every crop. Returns the network, its config (``config_json``), a
    report of the out-of-fold figures, and the out-of-fold probabilities (N x 3)."""
    from inference.evaluate.metrics import classification_metrics

    y_train = y if y_train is None else y_train  # Norwood levels when cfg.target says so; scored on grades
    fit = cross_fit(crops, y, groups, cfg, imagenet_state, y_train=y_train)
    m = classification_metrics([GRADES[i] for i in y], [GRADES[i] for i in fit.oof.argmax(1)])
    t0 = time.monotonic()
    net = train_grade_cnn(crops, y_train, cfg, imagenet_state)
    print(f"  grade CNN, shipped copy: {len(y)} photos, {time.monotonic() - t0:.0f}s", flush=True)
    cj = config_json(cfg, fit.view, trained=time.strftime("%Y-%m-%d"),
                     data="scalp_uze train split, detected head crops", epochs=cfg.epochs, photos=len(y), **meta)
    report = {"photos": len(y), "folds": cfg.folds, "epochs": cfg.epochs, "size": cfg.size, "lr": cfg.lr,
              "target": cfg.target, "test_view": {"center_crop": fit.view[0], "flips": list(fit.view[1])},
              "oof_by_view": [{"center_crop": v[0], "flips": list(v[1]), "macro_f1": f, "accuracy": a}
                              for v, (f, a) in fit.scores.items()],
              "oof_accuracy": m["accuracy"], "oof_macro_f1": m["macro_f1"], "oof_confusion": m["confusion"]} | meta
    return net, cj, report, fit.oof


# ---------------------------------------------------------------- the stage

def grade_cnn_stage(run: ScalpRun) -> dict[str, np.ndarray]:
    """The grade CNN in the weights folder and each train photo's out-of-fold probabilities
    by file name: trained here, or (``--reuse-grade-cnn``) those of an earlier run."""
    oof_file, weights = run.build / OOF_FILE, run.out / SCALP_CNN
    if run.args.reuse_grade_cnn and oof_file.is_file() and weights.is_file():
        saved = json.loads(oof_file.read_text())
        if not weights.with_suffix(".onnx").is_file():  # a network trained elsewhere (inference.train.gpu grade-cnn)
            c = ImageClassifier.load(weights)
            export_classifier_onnx(c.net, c.cfg, weights.with_suffix(".onnx"))
        run.log.set("grade_cnn", saved["report"] | {"reused": str(oof_file)})
        return {f: np.array(p) for f, p in saved["oof"].items()}
    oof = train_stage(run)
    oof_file.write_text(json.dumps({"report": run.log.data["grade_cnn"],
                                    "oof": {f: [round(float(v), 6) for v in p] for f, p in oof.items()}}))
    return oof


def train_stage(run: ScalpRun) -> dict[str, np.ndarray]:
    """Cross-fit the grade CNN on the train split's head crops, train the shipped one on all
    of them, export it; returns each train photo's out-of-fold probabilities by file name."""
    args, train_rows = run.args, run.train_rows
    face_free = args.cnn_crops == "face-free"
    chain = load_chain(run.out, run.device, faces=face_finder(run.shared) if face_free else None)
    crops = []
    for i in range(0, len(train_rows), 8):
        crops += chain.cnn_crops([read_rgb(r["path"]) for r in train_rows[i : i + 8]], face_free)
    crops = store_crops(crops, args.cnn_size)
    y = np.array([GRADES.index(r["grade3"]) for r in train_rows])
    groups = np.array([group_of(r["filename"]) for r in train_rows])
    cfg = GradeCNNConfig(epochs=args.cnn_epochs, folds=args.cnn_folds, seed=args.seed, device=run.device,
                         size=args.cnn_size, lr=args.cnn_lr, target=args.cnn_target)
    norwood = args.cnn_target == "norwood"
    y_train = np.array([NORWOOD_LEVELS.index(r["norwood_level"]) for r in train_rows]) if norwood else y
    net, cj, report, oof = fit_and_report(crops, y, groups, cfg, run.encoder, y_train=y_train, face_free=face_free)
    save_classifier(run.out / SCALP_CNN, net, cj)
    export_classifier_onnx(net, cj, (run.out / SCALP_CNN).with_suffix(".onnx"))
    run.log.set("grade_cnn", report)
    print("  grade CNN, out of fold on train:",
          json.dumps({k: report[k] for k in ("test_view", "oof_accuracy", "oof_macro_f1")}))
    return {r["filename"]: p for r, p in zip(train_rows, oof)}
