"""The MobileNetV2 classifier family (router, scalp grade CNN): test-time views, the torch
and ONNX paths, and the grade CNN's choice of view by out-of-fold scores."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inference.models.classifier import ImageClassifier, build_mobilenet, export_classifier_onnx  # noqa: E402

CLASSES = ["LOW", "MIDDLE", "HIGH"]


@pytest.fixture(scope="module")
def net():
    """A tiny network whose output depends on where things are in the image."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d((2, 2)), torch.nn.Flatten(),
                               torch.nn.Linear(16, len(CLASSES))).eval()


def _images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        im[:, :20] = 0  # asymmetric, so a mirrored copy reads differently
        out.append(im)
    return out


def test_view_keeps_the_centre():
    clf = ImageClassifier(build_mobilenet(3), {"classes": CLASSES, "size": 32, "center_crop": 0.5})
    im = np.zeros((40, 80, 3), np.uint8)
    im[10:30, 20:60] = 255  # exactly the central half of each side
    v = clf.view(im)
    assert v.shape == (20, 40, 3) and (v == 255).all()
    whole = ImageClassifier(build_mobilenet(3), {"classes": CLASSES, "size": 32})
    assert whole.view(im) is im


def test_flips_average_the_mirrored_copies(net):
    ims = _images()
    plain = ImageClassifier(net, {"classes": CLASSES, "size": 32})
    flipped = ImageClassifier(net, {"classes": CLASSES, "size": 32, "flips": ["h"]})
    both = ImageClassifier(net, {"classes": CLASSES, "size": 32, "flips": ["h", "v"]})
    p, ph = plain.probabilities(ims), plain.probabilities([im[:, ::-1] for im in ims])
    pv = plain.probabilities([im[::-1] for im in ims])
    assert not np.allclose(p, ph, atol=1e-4)  # the check below means something
    np.testing.assert_allclose(flipped.probabilities(ims), (p + ph) / 2, atol=1e-5)
    np.testing.assert_allclose(both.probabilities(ims), (p + ph + pv) / 3, atol=1e-5)
    # chunks of the batch give the same answer as one pass
    np.testing.assert_allclose(flipped.probabilities(ims, batch=3), flipped.probabilities(ims), atol=1e-5)


def test_center_crop_and_flips_match_in_onnx(net, tmp_path):
    from inference.models.onnx_runtime import OnnxModule

    cfg = {"classes": CLASSES, "size": 32, "center_crop": 0.875, "flips": ["h"]}
    path = export_classifier_onnx(net, cfg, tmp_path / "c.onnx")
    module = OnnxModule(path)
    assert module.metadata["config"]
    ims = _images(5, seed=1)
    ref = ImageClassifier(net, cfg).probabilities(ims)
    got = ImageClassifier(module, cfg).probabilities(ims)
    np.testing.assert_allclose(got, ref, atol=2e-3)  # fp16 weights in the export
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("cfg", [{"center_crop": 0.0}, {"center_crop": 1.5}, {"flips": ["x"]}])
def test_bad_test_time_view_is_refused(cfg):
    with pytest.raises(ValueError):
        ImageClassifier(build_mobilenet(3), {"classes": CLASSES, "size": 32, **cfg})


def test_cross_fit_keeps_the_view_with_the_best_out_of_fold_scores():
    from inference.train.scalp import grade_cnn as G

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (9, 40, 40, 3), dtype=np.uint8)
    y = np.array([0, 1, 2] * 3)
    cfg = G.GradeCNNConfig(epochs=1, batch=4, size=32, folds=3)
    fit = G.cross_fit(crops, y, np.array(list("aabbccdde")), cfg)
    assert set(fit.scores) == set(G.TEST_VIEWS)
    assert fit.scores[fit.view] == max(fit.scores.values())
    assert fit.oof.shape == (9, 3)
    np.testing.assert_allclose(fit.oof.sum(1), 1.0, atol=1e-5)
    # the config the shipped network carries reproduces the view
    cj = G.config_json(cfg, fit.view)
    clf = ImageClassifier(build_mobilenet(3), cj)
    assert (clf.center_crop, clf.flips) == (fit.view[0], fit.view[1])


def test_norwood_outputs_are_summed_into_grades_in_torch_and_onnx(tmp_path):
    """A network trained on the six Norwood levels (``--cnn-target norwood``) reports the
    three grades: each grade's probability is the sum of its levels', in both runtimes."""
    from inference.models.onnx_runtime import OnnxModule
    from inference.train.scalp.grade_cnn import (
        NORWOOD_GRADE,
        NORWOOD_LEVELS,
        GradeCNNConfig,
        config_json,
        norwood_groups,
    )

    assert norwood_groups() == [[0], [1, 2], [3, 4, 5]]
    assert [NORWOOD_GRADE[NORWOOD_LEVELS[i]] for g in norwood_groups() for i in g] == [
        "LOW",
        "MIDDLE",
        "MIDDLE",
        "HIGH",
        "HIGH",
        "HIGH",
    ]
    torch.manual_seed(0)
    six = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d((2, 2)), torch.nn.Flatten(), torch.nn.Linear(16, 6)
    ).eval()
    cfg = config_json(GradeCNNConfig(size=32, target="norwood"), (1.0, ("h",)))
    assert cfg["outputs"] == 6 and cfg["classes"] == CLASSES
    images = _images()
    grades = ImageClassifier(six, cfg).probabilities(images)
    plain = ImageClassifier(
        six, {k: v for k, v in cfg.items() if k not in ("output_groups", "outputs")} | {"classes": list(range(6))}
    )
    levels = plain.probabilities(images)
    np.testing.assert_allclose(
        grades, np.stack([levels[:, 0], levels[:, 1:3].sum(1), levels[:, 3:].sum(1)], 1), atol=1e-6
    )
    np.testing.assert_allclose(grades.sum(1), 1, atol=1e-5)
    path = export_classifier_onnx(six, cfg, tmp_path / "six.onnx")
    np.testing.assert_allclose(ImageClassifier(OnnxModule(path), cfg).probabilities(images), grades, atol=2e-3)
