"""The view classifier's training pieces: the mirror that swaps Left and Right, the batch
augmentation, the choice of setting by out-of-fold figures (no data, no weights)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from inference.train.scalp.view import (  # noqa: E402
    MIRROR,
    SettingFit,
    ViewSetting,
    choose,
    flip_and_turn,
    int_list,
    view_augment,
)
from inference.types import VIEWS  # noqa: E402

LEFT, RIGHT = VIEWS.index("Left"), VIEWS.index("Right")


def chiral(n: int = 64) -> np.ndarray:
    """Top-left bright, top-right grey, bottom dark: a mirror reverses the clockwise order of
    the quadrants, a quarter turn keeps it."""
    im = np.zeros((n, n, 3), np.uint8)
    im[: n // 2, : n // 2] = 255
    im[: n // 2, n // 2 :] = 128
    return im


def mirrored(x: np.ndarray) -> bool:
    """Whether a (C x H x W, any monotone intensity scale) image of ``chiral`` is mirrored:
    the quadrant clockwise after the brightest is not the grey one."""
    h, w = x.shape[-2:]
    q = [x[:, h // 4, w // 4].mean(), x[:, h // 4, 3 * w // 4].mean(),  # clockwise from the top left
         x[:, 3 * h // 4, 3 * w // 4].mean(), x[:, 3 * h // 4, w // 4].mean()]
    b = int(np.argmax(q))
    return bool(q[(b + 1) % 4] < q[(b + 3) % 4])


def test_a_mirror_swaps_left_and_right_and_a_quarter_turn_keeps_the_view():
    assert [VIEWS[i] for i in MIRROR] == ["Top-Down", "Back", "Front", "Right", "Left"]
    im = chiral()
    for v in range(len(VIEWS)):
        for turns in range(4):
            out, label = flip_and_turn(im, v, False, turns)
            assert label == v and not mirrored(out.transpose(2, 0, 1))
            np.testing.assert_array_equal(out, np.rot90(im, turns))
            out, label = flip_and_turn(im, v, True, turns)
            assert label == int(MIRROR[v]) and mirrored(out.transpose(2, 0, 1))
            np.testing.assert_array_equal(out, np.rot90(im[:, ::-1], turns))
    # a vertical mirror is a horizontal one and a half turn: Left reads as Right too
    out, label = flip_and_turn(im, LEFT, True, 2)
    np.testing.assert_array_equal(out, im[::-1])
    assert label == RIGHT


def test_the_batch_augmentation_relabels_exactly_the_mirrored_photos():
    n = 200
    batch = np.repeat(chiral(72)[None], n, 0)
    y = np.array([LEFT, RIGHT, VIEWS.index("Top-Down"), VIEWS.index("Back"), VIEWS.index("Front")] * (n // 5))
    x, labels = view_augment(batch, y, 48, np.random.default_rng(0))
    assert x.shape == (n, 3, 48, 48) and x.dtype == np.float32
    flipped = np.array([mirrored(im) for im in x])
    assert 0.3 < flipped.mean() < 0.7  # about half the photos are mirrored
    np.testing.assert_array_equal(labels, np.where(flipped, MIRROR[y], y))
    np.testing.assert_array_equal(y[:5], [LEFT, RIGHT, 0, 1, 2])  # the caller's labels are left alone


def test_the_setting_is_chosen_by_out_of_fold_accuracy_then_macro_f1_then_cost():
    def fit(size, epochs, acc, f1):
        return SettingFit(ViewSetting(size, epochs), np.zeros((1, 5)), {"accuracy": acc, "macro_f1": f1})

    assert choose([fit(160, 6, 0.90, 0.9), fit(224, 6, 0.92, 0.9)]).setting == ViewSetting(224, 6)
    assert choose([fit(160, 6, 0.92, 0.90), fit(224, 6, 0.92, 0.91)]).setting == ViewSetting(224, 6)
    assert choose([fit(224, 10, 0.92, 0.9), fit(160, 10, 0.92, 0.9), fit(160, 6, 0.92, 0.9)]).setting == \
        ViewSetting(160, 6)
    assert int_list("160,224") == [160, 224] and int_list("0") == [0]
