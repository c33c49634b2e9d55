"""What the grade CNN sees (``ScalpChain.cnn_crops``): on real photos with a found face the
face-free crop greys the face side of the brow line, and nothing else changes; seen from behind,
the neck is other skin in the answer but stays in the crop."""
from __future__ import annotations

import cv2
import numpy as np

from inference.datasets import view_of
from inference.models.onnx_runtime import Backend
from inference.pipeline.scalp.anatomy import OTHER_SKIN, SCALP
from inference.pipeline.scalp.chain import FILL
from inference.pipeline.scalp.view import ViewEstimate
from inference.service.domains import load_scalp


def _photos(shared, views, n):
    paths = [p for p in sorted((shared / "datasets/scalp_uze/valid").glob("*.jpg")) if view_of(p.name) in views]
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths[:n]]


def test_face_free_crops_grey_the_face_and_keep_the_rest(weights, shared):
    chain = load_scalp(weights, Backend())
    photos = _photos(shared, ("Front",), 12)
    measured = chain.measure(photos)
    with_face = [(im, m) for im, m in zip(photos, measured) if m.cut is not None]
    assert len(with_face) >= 2, "some valid Front photos show a face the finder finds"
    for im, m in with_face:
        plain, free = chain.cnn_crop(im, m, False), chain.cnn_crop(im, m, True)
        assert plain.shape == free.shape
        changed = (plain != free).any(axis=2)
        assert changed.mean() > 0.02  # the face below the brows is greyed
        assert (free[changed] == FILL).all()  # greyed, nothing else touched
    # the batch helper gives the same crops as the step-by-step calls
    ims = [im for im, _ in with_face[:2]]
    for a, (im, m) in zip(chain.cnn_crops(ims, True), with_face[:2]):
        assert np.array_equal(a, chain.cnn_crop(im, m, True))
    assert all(np.array_equal(a, b) for a, b in zip(chain.cnn_crops(ims, False), chain.crops(ims, chain.regions(ims))))


def test_a_top_down_photo_without_a_face_greys_only_its_other_skin(weights, shared):
    """No face cut: the face-free crop is the plain crop with exactly the other-skin pixels
    (ears, forehead, neck) grey, and the scalp and hair untouched."""
    chain = load_scalp(weights, Backend())
    photos = _photos(shared, ("Top-Down",), 4)
    top = ViewEstimate("Top-Down", {"Top-Down": 1.0, "Back": 0.0, "Front": 0.0, "Left": 0.0, "Right": 0.0})
    checked = 0
    for im, m in zip(photos, chain.measure(photos, views=[top] * len(photos))):
        if m.cut is not None:
            continue
        (x1, y1, x2, y2), _ = chain.segmenter.crops(im, m.dets[:1])[0]
        hide = m.segmentation.labels[y1:y2, x1:x2] == OTHER_SKIN
        free, plain = chain.cnn_crop(im, m, True), chain.cnn_crop(im, m, False)
        assert np.array_equal(free[~hide], plain[~hide])
        assert (free[hide] == FILL).all()
        assert hide.mean() < 0.5  # a crown from above is mostly scalp and hair
        checked += 1
    assert checked >= 1


def test_seen_from_behind_the_neck_is_other_skin_and_the_crop_keeps_it(weights, shared):
    """Back views: the scalp the U-Net sees below the hair is answered as other skin (never
    counted as exposed), and the grade CNN still sees it, as it did in training."""
    chain = load_scalp(weights, Backend())
    photos = _photos(shared, ("Back",), 16)
    back = {"Top-Down": 0.0, "Back": 1.0, "Front": 0.0, "Left": 0.0, "Right": 0.0}
    as_back = chain.measure(photos, views=[ViewEstimate("Back", back)] * len(photos))
    as_top = chain.measure(photos, views=[ViewEstimate("Top-Down", back)] * len(photos))
    with_neck = 0
    for im, b, t in zip(photos, as_back, as_top):
        assert t.neck is None and b.neck is not None
        assert (t.segmentation.labels[b.neck] == SCALP).all()  # the rule moves scalp only
        assert (b.segmentation.labels[b.neck] == OTHER_SKIN).all()
        moved = b.neck.mean()
        if moved > 0.01:
            with_neck += 1
            assert b.measurements.exposed_scalp_ratio <= t.measurements.exposed_scalp_ratio + 1e-6
            assert np.array_equal(chain.cnn_crop(im, b, True), chain.cnn_crop(im, t, True))
    assert with_neck >= 3, "some valid Back photos show a neck below the hair"
