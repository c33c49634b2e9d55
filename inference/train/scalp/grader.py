"""The scalp grader: a softmax regression over the chain's measurements, the detector's
class scores (where they are out of sample) and the grade CNN's out-of-fold probabilities.

Its L2 strength and class weighting are chosen by grouped cross-validation (one person's
views in one fold), and its UNCERTAIN threshold comes from the cross-validated
probabilities. The pipeline only reads what this writes (``scalp_grader.json``)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inference.artifacts import SCALP_GRADER
from inference.evaluate.metrics import classification_metrics
from inference.models.onnx_runtime import Backend
from inference.models.yolo import YoloDetector
from inference.pipeline.scalp.chain import DEFAULT_FLIPS, ScalpChain
from inference.pipeline.scalp.grade import (
    CNN_FEATURES,
    DETECTOR_FEATURES,
    MEASURE_FEATURES,
    SCALP_FEATURES,
    VIEW_FEATURES,
    VIEW_RATIO_FEATURES,
    ZONE_FEATURES,
    LogisticGrader,
    scalp_features,
    select,
)
from inference.pipeline.scalp.view import ViewEstimate
from inference.types import GRADES

from ..common import group_folds, read_rgb
from .chain import face_finder, load_parts
from .context import ScalpRun
from .splits import Splits, group_of


def fit_logistic(x: np.ndarray, y: np.ndarray, features: tuple[str, ...], l2: float = 1e-2,
                 class_weight: np.ndarray | None = None, steps: int = 500) -> LogisticGrader:
    """Softmax regression on standardised features: maximum likelihood with an L2 penalty
    (torch L-BFGS; a few hundred rows)."""
    import torch

    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / std, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    k = len(GRADES)
    w = torch.zeros(k, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    cw = torch.tensor(class_weight if class_weight is not None else np.ones(k), dtype=torch.float64)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt, weight=cw) + l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LogisticGrader(features, mean, std, w.detach().numpy(), b.detach().numpy())


def view_estimates(oof: dict[str, np.ndarray] | None, rows: list[dict]) -> list[ViewEstimate | None] | None:
    """The view classifier's out-of-fold probabilities of ``rows`` as the chain's views (None: no view)."""
    if oof is None:
        return None
    from inference.types import VIEWS

    return [ViewEstimate(VIEWS[int(np.argmax(oof[r["filename"]]))],
                         {v: float(p) for v, p in zip(VIEWS, oof[r["filename"]])}) for r in rows]


def inputs(with_view: bool) -> tuple[str, ...]:
    """What ``features_for`` measures: the detector's and the U-Net's features, the zones, the view."""
    return SCALP_FEATURES + ZONE_FEATURES + (VIEW_FEATURES + VIEW_RATIO_FEATURES if with_view else ())


# the feature sets a grader may use (beside the detector's scores where out of sample and the
# CNN's probabilities where it ran), the choice made by grouped CV like its other settings
FEATURE_SETS = {
    "measure": MEASURE_FEATURES,
    "zones": MEASURE_FEATURES + ZONE_FEATURES,
    "zones+view": MEASURE_FEATURES + ZONE_FEATURES + VIEW_FEATURES,
    "zones+view+ratio_by_view": MEASURE_FEATURES + ZONE_FEATURES + VIEW_FEATURES + VIEW_RATIO_FEATURES,
}


def feature_sets(available: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``FEATURE_SETS`` that ``available`` has, each with the detector's and the CNN's features it has."""
    extra = tuple(f for f in available if f in DETECTOR_FEATURES + CNN_FEATURES)
    return {name: tuple(f for f in available if f in names or f in extra)
            for name, names in FEATURE_SETS.items() if set(names) <= set(available)}


def choose_features(x: np.ndarray, y: np.ndarray, features: tuple[str, ...], seed: int, groups: np.ndarray,
                    views: np.ndarray) -> tuple[LogisticGrader, dict]:
    """``fit_grader`` on each of ``feature_sets``; the set whose chosen setting scores best (the
    same order: LOW recall reaching its target, macro-F1, accuracy; then the smaller set)."""
    tried = {}
    for name, names in feature_sets(features).items():
        cols = select(features, names)
        tried[name] = fit_grader(x[:, cols], y, seed, names, groups=groups, views=views)

    def key(name):
        g, r = tried[name]
        return r["cv_low_recall"] >= LOW_RECALL_TARGET, r["cv_macro_f1"], r["cv_accuracy"], -len(g.features)

    best = max(tried, key=key)
    grader, report = tried[best]
    report = report | {"feature_set": best, "feature_sets": {
        n: {k: r[k] for k in ("l2", "class_weights", "cv_macro_f1", "cv_accuracy", "cv_low_recall")}
        for n, (_, r) in tried.items()}}
    return grader, report


def features_for(models: ScalpChain, rows: list[dict], views: list[ViewEstimate | None] | None = None,
                 batch: int = 8):
    """``inputs`` of every photo, as the chain measures it (each photo's view as given: the view
    classifier's out-of-fold estimate), and the measured photos."""
    names = inputs(views is not None)
    feats, measured = [], []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        res = models.measure([read_rgb(r["path"]) for r in chunk], views=views[i : i + batch] if views else None)
        for m in res:
            feats.append(scalp_features(m.best, m.measurements, names=names))
            measured.append(m)
    return np.array(feats), measured


# on the calibration fold (105 photos) one 5-fold split's choice changes with its seed, so it is repeated
GRADER_CV_REPEATS = 5


LOW_RECALL_TARGET = 0.6  # the product's aim for finding healthy scalps (LOW) on photos it has not seen
LOW_BOOST = 1.5  # the "low" weighting: balanced, with LOW weighed this much more


def class_weights(y: np.ndarray) -> dict[str, np.ndarray | None]:
    """The class weightings a grader may be fitted with: none, balanced, balanced with LOW boosted."""
    balanced = balanced_weights(y)
    low = balanced.copy()
    low[GRADES.index("LOW")] *= LOW_BOOST
    return {"none": None, "balanced": balanced, "low": low}


def fit_grader(x: np.ndarray, y: np.ndarray, seed: int = 0, features: tuple[str, ...] = SCALP_FEATURES,
               groups: np.ndarray | None = None, repeats: int = GRADER_CV_REPEATS,
               views: np.ndarray | None = None) -> tuple[LogisticGrader, dict]:
    """Softmax regression; the L2 strength and the class weighting (``class_weights``) chosen by
    5-fold cross-validation repeated over ``repeats`` splits, then refitted on all the photos.
    The choice: a setting whose cross-validated LOW recall reaches ``LOW_RECALL_TARGET`` first,
    then the best mean macro-F1, then accuracy. ``groups``: one person's photos stay in one
    fold (as everywhere else in this training), so the choice is not made on views of people
    the grader has seen. The UNCERTAIN threshold comes from the cross-validated
    probabilities, not from the refitted grader's own photos. ``views`` (one per photo): the
    chosen setting's cross-validated accuracy is also reported per view, to show where the
    grade fails on photos the grader did not fit."""
    weightings = class_weights(y)
    splits = cv_splits(len(y), groups, repeats, seed)
    low = GRADES.index("LOW")
    scores, oof = {}, {}
    for l2 in (0.01, 0.05, 0.2, 1.0):
        for name, cw in weightings.items():
            runs = []
            for folds in splits:
                p = cv_probabilities(x, y, folds, features, l2, cw)
                m = classification_metrics([GRADES[i] for i in y], [GRADES[i] for i in p.argmax(1)])
                low_recall = float((p.argmax(1)[y == low] == low).mean()) if (y == low).any() else 0.0
                runs.append((p, m["macro_f1"], m["accuracy"], low_recall))
            f1, acc, lr = (round(float(np.mean([r[k] for r in runs])), 4) for k in (1, 2, 3))
            scores[(l2, name)] = (lr >= LOW_RECALL_TARGET, f1, acc, lr)
            oof[(l2, name)] = [r[0] for r in runs]
    (l2, name), (_, f1, acc, lr) = max(scores.items(), key=lambda kv: kv[1][:3])
    g = fit_logistic(x, y, features, l2=l2, class_weight=weightings[name])
    ps = oof[(l2, name)]
    g.uncertain_below = uncertain_threshold(np.concatenate(ps), np.tile(y, len(ps)))
    rate = float(np.mean([(p.max(1) < g.uncertain_below).mean() for p in ps]))
    # what a user sees: a photo told UNCERTAIN is not a right grade
    seen = float(np.mean([((p.argmax(1) == y) & (p.max(1) >= g.uncertain_below)).mean() for p in ps]))
    report = {"l2": l2, "class_weights": name, "class_weighted": name != "none", "cv_macro_f1": f1,
              "cv_accuracy": acc, "cv_low_recall": lr, "cv_repeats": repeats, "cv_grouped": groups is not None,
              "cv_uncertain_rate": round(rate, 4), "cv_seen_accuracy": round(seen, 4),
              "cv_table": {f"{k[0]}/{k[1]}": {"macro_f1": v[1], "accuracy": v[2], "low_recall": v[3]}
                           for k, v in scores.items()}}
    if views is not None:
        hit = np.mean([p.argmax(1) == y for p in ps], 0)  # each photo's share of correct repeats
        report["cv_accuracy_per_view"] = {
            str(v): {"n": int((views == v).sum()), "accuracy": round(float(hit[views == v].mean()), 4)}
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
    keep = [i for i, f in enumerate(features) if f not in DETECTOR_FEATURES]
    out = {}
    for design, sub, cols in (("calibration", calib, list(range(len(features)))), ("all", np.ones(len(y), bool), keep)):
        c = chosen[design]
        xs, ys = x[sub][:, cols], y[sub]
        accs, f1s = [], []
        for folds in cv_splits(len(ys), groups[sub], repeats, seed):
            p = np.zeros((len(y), 3))
            p[sub] = cv_probabilities(xs, ys, folds, tuple(features[i] for i in cols), c["l2"],
                                      class_weights(ys)[c["class_weights"]])
            m = classification_metrics([GRADES[i] for i in y[calib]], [GRADES[i] for i in p[calib].argmax(1)])
            accs.append(m["accuracy"])
            f1s.append(m["macro_f1"])
        out[design] = {"accuracy": round(float(np.mean(accs)), 4), "macro_f1": round(float(np.mean(f1s)), 4)}
    return {"photos": int(calib.sum()), "repeats": repeats} | out


UNCERTAIN_GRID = np.round(np.arange(0.34, 0.555, 0.01), 2)  # rounded: the grader compares with the stored value
UNCERTAIN_MIN_SHARE = 0.01  # a band this thin of the photos is noise, not evidence


def uncertain_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """UNCERTAIN below the highest confidence (0.34 to 0.55) under which the cross-validated
    best guesses are right less than half the time: there a grade would more likely mislead
    than inform. 0.0 (never for confidence alone) where even the least confident guesses are
    right at least half the time: a user told 판단 어려움 learns nothing, while a grade shown
    with its low confidence is still more often right than wrong."""
    conf, pred = p.max(1), p.argmax(1)
    best = 0.0
    for t in UNCERTAIN_GRID:
        below = conf < t
        if below.mean() >= UNCERTAIN_MIN_SHARE and (pred[below] == y[below]).mean() < 0.5:
            best = float(t)
    return best


def oof_features(parts, fold_detectors: list, fold: list[int], rows: list[dict], flips, faces,
                 views: list[ViewEstimate | None] | None) -> np.ndarray:
    """The grader's features of ``rows``, each photo through its own fold's detector (with
    the shared segmenter), so the detector's grades are as unseen as at run time."""
    _, segmenter, neutral = parts
    fold = np.asarray(fold)
    x = None
    for k, detector in enumerate(fold_detectors):
        idx = np.flatnonzero(fold == k)
        if not len(idx):
            continue
        chain = ScalpChain(detector, segmenter, neutral, flips=flips, faces=faces)
        xk, _ = features_for(chain, [rows[i] for i in idx], [views[i] for i in idx] if views else None)
        if x is None:
            x = np.zeros((len(rows), xk.shape[1]))
        x[idx] = xk
    return x


# ---------------------------------------------------------------- the stage

def grader_stage(run: ScalpRun, splits: Splits, fold_detectors: list[Path],
                 cnn_oof: dict[str, np.ndarray] | None, view_oof: dict[str, np.ndarray] | None = None) -> None:
    """Fit the grader on ``splits.grader_photos`` and write ``scalp_grader.json``: the chain's
    measurements (the scalp zone's ratio and each Norwood zone's), the view classifier's and the
    grade CNN's out-of-fold probabilities, and the detector's class scores where out of sample."""
    args = run.args
    parts = load_parts(run.out, run.device)
    faces = face_finder(run.shared)
    rows = [r for r in run.train_rows if r["filename"] in splits.grader_photos]
    y = np.array([GRADES.index(r["grade3"]) for r in rows])
    views = view_estimates(view_oof, rows)
    unseen = splits.detector_unseen
    flips, tried = choose_flips(run, parts, rows, y, splits, fold_detectors, faces, views)
    x, features = tried[flips][1], inputs(views is not None)
    if cnn_oof is not None:  # the CNN's out-of-fold probabilities for these photos
        x = np.concatenate([x, np.array([cnn_oof[r["filename"]] for r in rows])], 1)
        features = features + CNN_FEATURES
    groups = np.array([group_of(r["filename"]) for r in rows])
    x_all, features_all = x, features
    if not unseen:  # the detector trained on most of these photos: its scores would be in-sample
        keep = tuple(f for f in features if f not in DETECTOR_FEATURES)
        x, features = x[:, select(features, keep)], keep
    grader, choice = choose_features(x, y, features, args.seed, groups, np.array([r["view"] for r in rows]))
    features = grader.features
    design_check = None
    if not unseen and cnn_oof is not None:  # how the calibration-fold design would have done on its own photos
        in_fold = np.array([r["filename"] in splits.held_out for r in rows])
        _, alone_choice = fit_grader(x_all[in_fold], y[in_fold], args.seed, features_all, groups=groups[in_fold])
        chosen = {"calibration": alone_choice, "all": choice}
        design_check = compare_grader_designs(x_all, features_all, y, groups, in_fold, chosen, args.seed)
        print("  grader designs on the calibration fold's photos:", json.dumps(design_check))
    grader.flips = flips
    (run.out / SCALP_GRADER).write_text(json.dumps(grader.to_json(), indent=1))
    # where the detector trained on these photos its accuracy alone is in-sample: not shown
    alone = {"+".join(f): round(a, 4) for f, (a, _) in tried.items()} if unseen else None
    run.log.set("grader", {"photos": "all" if splits.fold_of else args.grader_photos, "calibration_photos": len(rows),
                           "detector_cross_fitted": bool(fold_detectors), "features": list(features),
                           "uncertain_below": grader.uncertain_below, "flips": list(flips),
                           "detector_alone_calib_accuracy": alone, **choice, "design_check": design_check})
    print("  grader, cross-validated on train:", json.dumps({k: choice[k] for k in
          ("feature_set", "l2", "class_weights", "cv_accuracy", "cv_macro_f1", "cv_low_recall", "cv_uncertain_rate",
           "cv_seen_accuracy")}))
    print("  grader feature sets:", json.dumps(choice["feature_sets"]))


def choose_flips(run: ScalpRun, parts, rows: list[dict], y: np.ndarray, splits: Splits,
                 fold_detectors: list[Path], faces, views: list[ViewEstimate | None] | None
                 ) -> tuple[tuple[str, ...], dict]:
    """The test-time flips and the features of ``rows`` under each set tried: with the
    detector's scores out of sample, the set under which it alone grades these photos best
    (never the valid split); else no flips (its scores are not used). Returns the chosen set
    and {flips: (detector-alone accuracy, features)}."""
    fold_dets = [YoloDetector(p, Backend.torch(run.device)) for p in fold_detectors]  # loaded once for every set
    tried = {}
    for flips in (("none",), ("none", "h"), DEFAULT_FLIPS) if splits.detector_unseen else (("none",),):
        if fold_detectors:  # each photo through the detector that never saw its person
            x = oof_features(parts, fold_dets, [splits.fold_of[r["filename"]] for r in rows], rows, flips, faces,
                             views)
        else:
            x, _ = features_for(ScalpChain(*parts, flips=flips, faces=faces), rows, views)
        tried[flips] = (float((x[:, :3].argmax(1) == y).mean()), x)
    return max(tried, key=lambda f: tried[f][0]), tried
