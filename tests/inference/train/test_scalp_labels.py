"""Label making for the scalp models, on real photos read from ../shared at test time."""
from __future__ import annotations

import cv2
import numpy as np

from inference.models.face_detector import FaceDetector
from inference.pipeline.scalp.anatomy import below_brows
from inference.train.scalp import labels as L
from inference.train.scalp.splits import calibration_split, group_of
from inference.train.segdata import (
    ANY_SKIN,
    HAIR,
    IGNORE,
    NOT_HAIR,
    OTHER_SKIN,
    SCALP,
    augment,
    figaro_samples,
    lfw_faces,
    lfw_samples,
    read_scalp_index,
)
from inference.types import Box, Face

YUNET = "pretrained/yunet/yunet_s_320_320.onnx"


def face_at(eyes: tuple[float, float], mouth: tuple[float, float]) -> Face:
    (ex, ey), (mx, my) = eyes, mouth
    return Face(Box(ex - 30, ey - 30, ex + 30, my + 20),
                ((ex - 10, ey), (ex + 10, ey), ((ex + mx) / 2, (ey + my) / 2), (mx - 8, my), (mx + 8, my)), 0.9)


def test_lfw_and_figaro_labels_use_one_convention(shared, tmp_path):
    root = shared / "datasets/lfw_parts"
    faces = lfw_faces(root, FaceDetector(shared / YUNET, score=0.6), tmp_path / "faces.json")
    assert sum(f is not None for f in faces.values()) >= 0.95 * len(faces)  # funneled frontal faces
    lfw = lfw_samples(root, "test", faces)[:3]
    fig = figaro_samples(shared / "datasets/figaro1k", "testing")[:3]
    for s in lfw:
        rgb, lab = s.load()
        assert rgb.shape[:2] == lab.shape and rgb.dtype == np.uint8
        assert set(np.unique(lab)) <= {0, HAIR, SCALP, OTHER_SKIN} and (lab == HAIR).any()
        assert (lab == OTHER_SKIN).any()  # the face below the brows
        below = below_brows(lab.shape, s.face)
        assert not (lab[below] == SCALP).any() and not (lab[~below] == OTHER_SKIN).any()
    rgb, lab = lfw_samples(root, "test", {})[0].load()  # no face known: skin of either kind
    assert (lab == ANY_SKIN).any() and not ((lab == SCALP) | (lab == OTHER_SKIN)).any()
    for s in fig:
        rgb, lab = s.load()
        # Figaro only says hair / not hair: never a definite skin or background label
        assert set(np.unique(lab)) <= {HAIR, NOT_HAIR} and (lab == HAIR).any()


def test_augment_keeps_labels_aligned_and_marks_outside_unknown():
    rng = __import__("random").Random(3)
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[:, 50:] = 255
    lab = np.zeros((100, 100), np.uint8)
    lab[:, 50:] = HAIR
    for _ in range(10):
        img, out = augment(rgb, lab, 64, rng)
        assert img.shape == (64, 64, 3) and out.shape == (64, 64)
        hair = out == HAIR
        bg = out == 0
        if hair.sum() > 50 and bg.sum() > 50:
            # bright pixels sit where the label says hair (colour jitter keeps the order)
            assert img[hair].mean() > img[bg].mean() + 40
        assert set(np.unique(out)) <= {0, HAIR, IGNORE}


def test_pseudo_mask_leaves_unsure_pixels_unlabelled():
    p = np.zeros((4, 4, 4), np.float32)
    p[HAIR] = 0.9
    p[0] = 0.1
    p[:, 0, 0] = (0.4, 0.35, 0.25, 0.0)
    m = L.pseudo_mask(p)
    assert m[0, 0] == IGNORE and (m[1:] == HAIR).all()


def test_head_box_is_largest_region_above_the_brows():
    mask = np.zeros((200, 200), np.uint8)
    mask[20:120, 40:160] = HAIR
    mask[120:190, 60:140] = SCALP  # the face below, before the face rule
    mask[5:15, 5:15] = SCALP  # a speck elsewhere
    box, _ = L.head_box(mask, None)
    assert box == (40, 20, 160, 190)
    # a face with its eyes at y=130 and mouth at y=170: everything below the brows (about y=116) is cut
    cut = below_brows(mask.shape, face_at((100, 130), (100, 170)))
    assert cut[150, 100] and not cut[100, 100]
    box, _ = L.head_box(mask, cut)
    assert box[1] == 20 and 110 <= box[3] <= 122


def test_a_label_splits_skin_at_the_face_and_takes_the_outlined_other_skin():
    probs = np.zeros((4, 200, 200), np.float32)
    probs[HAIR, :60] = 0.9
    probs[SCALP, 60:] = 0.9  # the network calls all the skin scalp
    probs[0] = 1 - probs.sum(0)
    face = below_brows((200, 200), face_at((100, 130), (100, 170)))
    outlined = np.zeros((200, 200), bool)
    outlined[60:100, :20] = True  # an ear a person outlined, above the brow line
    row = {"filename": "x.jpg", "split": "train", "view": "Left", "grade3": "LOW"}
    lab = L.make_label(row, probs, face, outlined, {})
    assert lab.mask[180, 100] == OTHER_SKIN and lab.mask[80, 100] == SCALP and lab.mask[80, 10] == OTHER_SKIN
    assert lab.mask[10, 100] == HAIR and lab.face_found
    assert lab.box is not None and lab.box[3] <= 122  # the box stops at the brows


def test_where_a_person_settled_the_other_skin_the_rest_of_the_skin_is_scalp():
    """A bald crown the network is unsure of (scalp 0.45, other skin 0.45): on a Top-Down photo
    (faces there were looked for by hand) it is scalp; on a Back photo nobody outlined, only
    the network could say, and it is unsure: unlabelled. Where the network is sure of other
    skin on an unsettled photo (a neck), that stays."""
    probs = np.zeros((4, 100, 100), np.float32)
    probs[SCALP, :60], probs[OTHER_SKIN, :60] = 0.45, 0.45
    probs[OTHER_SKIN, 60:] = 0.9  # a neck, the network is sure
    probs[0] = 1 - probs.sum(0)
    top = L.make_label({"filename": "t.jpg", "split": "train", "view": "Top-Down", "grade3": "HIGH"},
                       probs, None, None, {})
    back = L.make_label({"filename": "b.jpg", "split": "train", "view": "Back", "grade3": "HIGH"},
                        probs, None, None, {})
    assert (top.mask[:60] == SCALP).all() and (top.mask[60:] == SCALP).all()  # settled: all skin is scalp
    assert (back.mask[:60] == IGNORE).all() and (back.mask[60:] == OTHER_SKIN).all()
    assert L.settled({"view": "Back"}, None, np.zeros((2, 2), bool)) and not L.settled({"view": "Left"}, None, None)


def test_labels_on_real_scalp_photos_and_contact_sheet(shared, tmp_path):
    rows = read_scalp_index(shared / "datasets/scalp_uze")
    assert len(rows) == 598 and {r["view"] for r in rows} == {"Top-Down", "Back", "Front", "Left", "Right"}
    faces = FaceDetector(shared / YUNET, score=L.LABEL_FACE_SCORE)
    hand = L.HandLabels.read()
    picked = [next(r for r in rows if r["view"] == v) for v in ("Left", "Top-Down")]
    labels, images = [], {}
    for r in picked:
        rgb = cv2.cvtColor(cv2.imread(r["path"]), cv2.COLOR_BGR2RGB)
        # a rough hair / skin map by colour stands in for the U-Net here
        dark = rgb.mean(2) < 90
        probs = np.zeros((4,) + rgb.shape[:2], np.float32)
        probs[HAIR][dark], probs[SCALP][~dark] = 0.9, 0.9
        probs[0] = 1 - probs.sum(0)
        lab = L.make_label(r, probs, L.face_side(rgb, r["filename"], hand, faces), None, {})
        labels.append(lab)
        images[r["filename"]] = rgb
        assert lab.mask.shape == rgb.shape[:2]
        if lab.box:
            x1, y1, x2, y2 = lab.box
            assert 0 <= x1 < x2 <= rgb.shape[1] and 0 <= y1 < y2 <= rgb.shape[0]
            line = L.yolo_line(lab.box, 1, rgb.shape[1], rgb.shape[0]).split()
            assert line[0] == "1" and all(0 < float(v) <= 1 for v in line[1:])
    assert labels[0].face_found and (labels[0].mask == OTHER_SKIN).any()  # a side view shows a face
    sheets = L.write_contact_sheets(labels * 24, images, tmp_path, n=48)
    sheet = cv2.imread(str(sheets[0]))
    assert sheet.shape == (6 * 200, 8 * 200, 3)


def test_corrections_file_is_read(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("# comment\nfilename,action,note\na.jpg,drop,blurred\nb.jpg,drop_box,\n")
    c = L.read_corrections(p)
    assert c["a.jpg"]["drop_mask"] and c["a.jpg"]["drop_box"]
    assert not c["b.jpg"]["drop_mask"] and c["b.jpg"]["drop_box"]
    # the shipped corrections name real photos
    shipped = L.read_corrections()
    assert shipped, "hand corrections are committed"


def test_shipped_corrections_name_existing_photos(shared):
    names = {r["filename"] for r in read_scalp_index(shared / "datasets/scalp_uze")}
    for f in L.read_corrections():
        assert f in names, f


def test_calibration_fold_holds_whole_groups(shared):
    rows = [r for r in read_scalp_index(shared / "datasets/scalp_uze") if r["split"] == "train"]
    calib = calibration_split(rows, 0.2, 0)
    assert 0.15 * len(rows) <= len(calib) <= 0.3 * len(rows)
    held = {group_of(f) for f in calib}
    rest = {group_of(r["filename"]) for r in rows if r["filename"] not in calib}
    assert not held & rest


def test_uncertain_threshold_withholds_only_guesses_more_often_wrong_than_right():
    from inference.train.scalp.grader import uncertain_threshold

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    sure = np.arange(200) < 140  # 70% confident and right (0.8), the rest unsure (0.42) and wrong
    p = np.repeat(np.where(sure, 0.1, 0.29)[:, None], 3, axis=1)
    p[sure, y[sure]] = 0.8
    p[np.flatnonzero(~sure), (y[~sure] + 1) % 3] = 0.42
    t = uncertain_threshold(p, y)
    conf = p.max(1)
    assert conf[~sure].max() < t <= conf[sure].min()  # the unsure ones fall below it
    # unsure guesses that are right 60% of the time are shown (with their confidence), never withheld
    unsure = np.flatnonzero(~sure)
    right = unsure[: int(0.6 * len(unsure))]
    p[right] = 0.29
    p[right, y[right]] = 0.42
    assert uncertain_threshold(p, y) == 0.0
    # exactly at half right: shown too (withheld only where more often wrong than right)
    half = unsure[: len(unsure) // 2]
    p[unsure] = 0.29
    p[unsure, (y[unsure] + 1) % 3] = 0.42
    p[half] = 0.29
    p[half, y[half]] = 0.42
    assert uncertain_threshold(p, y) == 0.0


def test_grader_cross_validation_keeps_a_person_in_one_fold():
    """A feature that only identifies the person (the same value for a person's views, and
    labels that follow the person) looks useful when a person's views are split across
    folds and useless when they are not."""
    from inference.train.scalp.grader import fit_grader

    rng = np.random.default_rng(1)
    people = np.repeat(np.arange(30), 5)
    label_of = rng.integers(0, 3, 30)
    y = label_of[people]
    ident = rng.normal(size=(30, 6))[people] + rng.normal(scale=0.05, size=(150, 6))
    features = tuple(f"f{i}" for i in range(6))
    _, leaky = fit_grader(ident, y, 0, features)
    g, grouped = fit_grader(ident, y, 0, features, groups=people)
    assert grouped["cv_grouped"] and grouped["cv_repeats"] == 5
    assert leaky["cv_accuracy"] > grouped["cv_accuracy"] + 0.1
    assert g.uncertain_below == 0.0 or 0.34 <= g.uncertain_below <= 0.55


def test_the_grader_reports_its_cross_validated_accuracy_per_view():
    """One view whose feature carries the grade, one whose feature is noise: the per-view
    figures come from the held-out photos and show which view the grade fails on."""
    from inference.train.scalp.grader import fit_grader

    rng = np.random.default_rng(2)
    n = 120
    y = rng.integers(0, 3, n)
    views = np.array(["Top-Down", "Back"] * (n // 2))
    signal = np.eye(3)[y] * 3 + rng.normal(scale=0.5, size=(n, 3))
    x = np.where((views == "Top-Down")[:, None], signal, rng.normal(size=(n, 3)))
    _, report = fit_grader(x, y, 0, ("a", "b", "c"), groups=np.arange(n) // 2, views=views)
    per_view = report["cv_accuracy_per_view"]
    assert {v: r["n"] for v, r in per_view.items()} == {"Back": 60, "Top-Down": 60}
    assert per_view["Top-Down"]["accuracy"] > 0.9 > 0.6 > per_view["Back"]["accuracy"]
    # the per-view figures average back to the overall one (equal view sizes)
    assert abs(np.mean([r["accuracy"] for r in per_view.values()]) - report["cv_accuracy"]) < 0.01
    assert "cv_accuracy_per_view" not in fit_grader(x, y, 0, ("a", "b", "c"))[1]


def test_the_grader_design_check_scores_both_designs_on_the_calibration_photos():
    """Where only the detector's scores carry the grade, the calibration-fold design (which
    has them) beats the all-photo design (which drops them); where the CNN's carry it, both
    are right on nearly every calibration photo."""
    from inference.pipeline.scalp.grade import CNN_FEATURES, SCALP_FEATURES
    from inference.train.scalp.grader import compare_grader_designs

    rng = np.random.default_rng(0)
    n = 150
    y = np.arange(n) % 3
    groups = np.array([f"p{i // 3}" for i in range(n)])
    calib = np.array([int(g[1:]) % 5 == 0 for g in groups])
    features = SCALP_FEATURES + CNN_FEATURES
    chosen = {d: {"l2": 0.01, "class_weights": "none"} for d in ("calibration", "all")}
    informative = np.eye(3)[y] * 3 + rng.normal(0, 0.3, (n, 3))
    noise = rng.normal(0, 1, (n, 10))
    x_det = noise.copy()
    x_det[:, :3] = informative
    r = compare_grader_designs(x_det, features, y, groups, calib, chosen, seed=0, repeats=2)
    assert r["photos"] == calib.sum() and r["repeats"] == 2
    assert r["calibration"]["accuracy"] > 0.9 > 0.6 > r["all"]["accuracy"]
    x_cnn = noise.copy()
    x_cnn[:, -3:] = informative
    r = compare_grader_designs(x_cnn, features, y, groups, calib, chosen, seed=0, repeats=2)
    assert r["calibration"]["accuracy"] > 0.9 and r["all"]["accuracy"] > 0.9


def test_the_grader_weighs_the_classes_so_that_low_is_found():
    """Few LOW photos that overlap MIDDLE: unweighted, the grader rarely says LOW; the chosen
    weighting reaches the product's LOW recall in cross-validation and reports it."""
    from inference.train.scalp.grader import LOW_RECALL_TARGET, fit_grader

    rng = np.random.default_rng(3)
    y = np.array([0] * 30 + [1] * 120 + [2] * 90)
    x = np.array([-0.8, 0.0, 1.5])[y][:, None] + rng.normal(0, 0.6, (len(y), 1))
    _, report = fit_grader(x, y, 0, ("exposed",), groups=np.arange(len(y)) // 2)
    assert report["cv_low_recall"] >= LOW_RECALL_TARGET and report["class_weights"] in ("balanced", "low")
    unweighted = [v for k, v in report["cv_table"].items() if k.endswith("/none")]
    assert max(v["low_recall"] for v in unweighted) < LOW_RECALL_TARGET


def test_the_grader_chooses_the_feature_set_that_cross_validates_best():
    """The grade depends on the ratio through a threshold that differs by view: the sets
    without the ratio-by-view features cannot draw it; the choice names the set and reports
    every set tried."""
    from inference.pipeline.scalp.grade import MEASURE_FEATURES, VIEW_FEATURES, VIEW_RATIO_FEATURES, ZONE_FEATURES
    from inference.train.scalp.grader import choose_features, feature_sets

    rng = np.random.default_rng(5)
    n = 300
    view = rng.integers(0, 2, n)  # 0: Top-Down, 1: Back
    logit = rng.normal(0, 1.5, n)
    y = np.where(view == 0, np.digitize(logit, [-1.0, 1.0]), np.digitize(logit, [-2.5, -1.5]))
    ratio = 1 / (1 + np.exp(-logit))
    vp = np.zeros((n, 5))
    vp[np.arange(n), view] = 1.0
    cols = {"exposed_ratio": ratio, "exposed_logit": logit, "region_fraction": rng.uniform(0.3, 0.6, n)}
    cols |= {f: ratio + rng.normal(0, 0.3, n) for f in ZONE_FEATURES}
    cols |= dict(zip(VIEW_FEATURES, vp.T)) | {r: logit * vp[:, i] for i, r in enumerate(VIEW_RATIO_FEATURES)}
    features = tuple(cols)
    x = np.stack([cols[f] for f in features], 1)
    assert set(feature_sets(features)) == {"measure", "zones", "zones+view", "zones+view+ratio_by_view"}
    assert feature_sets(MEASURE_FEATURES) == {"measure": MEASURE_FEATURES}
    g, report = choose_features(x, y, features, 0, np.arange(n) // 2, np.array(["Top-Down", "Back"])[view])
    assert report["feature_set"] == "zones+view+ratio_by_view" and set(VIEW_RATIO_FEATURES) <= set(g.features)
    sets = report["feature_sets"]
    assert sets["zones+view+ratio_by_view"]["cv_accuracy"] > sets["measure"]["cv_accuracy"] + 0.1
