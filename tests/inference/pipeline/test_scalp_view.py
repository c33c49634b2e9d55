"""The view step (``inference.pipeline.scalp.view``): on the shipped view classifier, on a few
valid photos whose file names give the view, as the CPU service runs it (int8) and in torch."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.datasets import view_of
from inference.models.classifier import ImageClassifier
from inference.models.onnx_runtime import Backend
from inference.pipeline.scalp.view import ViewEstimate, predict_views
from inference.types import VIEWS


def _valid_photos(shared, per_view=2):
    """``per_view`` valid photos of each view (the first by name), with their views."""
    paths = sorted((shared / "datasets/scalp_uze/valid").glob("*.jpg"))
    chosen = [p for v in VIEWS for p in [p for p in paths if view_of(p.name) == v][:per_view]]
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in chosen], [view_of(p.name) for p in chosen]


@pytest.mark.parametrize("backend", [Backend(), Backend.torch()], ids=["cpu-service", "torch"])
def test_the_shipped_view_classifier_names_the_view_of_valid_photos(weights, shared, backend):
    clf = ImageClassifier.load(weights / "scalp_view.pt", backend)
    assert clf.classes == VIEWS and clf.flips == ()  # a mirrored copy would average Left with Right
    images, truth = _valid_photos(shared)
    est = predict_views(clf, images)
    assert all(isinstance(e, ViewEstimate) and tuple(e.probabilities) == VIEWS for e in est)
    assert all(abs(sum(e.probabilities.values()) - 1) < 1e-4 and e.confidence == max(e.probabilities.values())
               for e in est)
    right = sum(e.view == t for e, t in zip(est, truth))
    assert right >= 8, [(t, e.view) for e, t in zip(est, truth)]  # 10 photos; valid accuracy in the model card


def test_a_rotated_photo_keeps_its_view_and_a_mirrored_profile_changes_side(weights, shared):
    clf = ImageClassifier.load(weights / "scalp_view.pt", Backend())
    images, truth = _valid_photos(shared, per_view=1)
    turned = predict_views(clf, [np.rot90(im) for im in images])
    assert sum(e.view == t for e, t in zip(turned, truth)) >= 4
    sides = [(im, t) for im, t in zip(images, truth) if t in ("Left", "Right")]
    mirrored = predict_views(clf, [np.ascontiguousarray(im[:, ::-1]) for im, _ in sides])
    assert [e.view for e in mirrored] == [{"Left": "Right", "Right": "Left"}[t] for _, t in sides]


def test_no_photo_no_forward_pass():
    class Never:
        classes = VIEWS

        def probabilities(self, images):
            raise AssertionError("called")

    assert predict_views(Never(), []) == []
