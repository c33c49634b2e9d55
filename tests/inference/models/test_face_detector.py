"""YuNet through ONNX Runtime finds what OpenCV's FaceDetectorYN finds, in every quarter turn."""
from __future__ import annotations

import cv2
import numpy as np

from inference.models.face_detector import NMS, SIDE, TOP_K, FaceDetector
from inference.pipeline.scalp.chain import NO_FACE_SURE, NO_FACE_VIEWS
from inference.pipeline.scalp.view import ViewEstimate


class OpenCvYuNet(FaceDetector):
    """The same turns and scaling, the network and its decoding by OpenCV (the reference)."""

    def __init__(self, model, score):
        self.net = cv2.FaceDetectorYN.create(str(model), "", (SIDE, SIDE), score, NMS, TOP_K)

    def _raw(self, chw):
        bgr = np.ascontiguousarray(chw.transpose(1, 2, 0))
        self.net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.net.detect(bgr)
        return np.zeros((0, 15), np.float32) if faces is None else faces


def _photos(shared, names):
    folder = shared / "datasets/scalp_uze/valid"
    paths = [p for p in sorted(folder.glob("*.jpg")) if any(f"-{n}_" in p.name for n in names)][:12]
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def test_onnx_runtime_yunet_finds_the_faces_opencv_finds(weights, shared):
    model = weights / "yunet_s_320_320.onnx"
    photos = _photos(shared, ("Front", "Left", "Right"))
    turned = [np.ascontiguousarray(np.rot90(p, k)) for k, p in enumerate(photos)]  # faces in every orientation
    found = 0
    for score in (0.6, 0.9):
        ours, ref = FaceDetector(model, score), OpenCvYuNet(model, score)
        for im in photos + turned + [np.ascontiguousarray(photos[0][:400, :250])]:  # and a non-square crop
            a, b = ours.detect(im), ref.detect(im)
            assert len(a) == len(b)
            for x, y in zip(a, b):
                assert abs(x.score - y.score) < 1e-3
                np.testing.assert_allclose([x.box.x1, x.box.y1, x.box.x2, x.box.y2],
                                           [y.box.x1, y.box.y1, y.box.x2, y.box.y2], atol=1.0)
                np.testing.assert_allclose(np.array(x.landmarks), np.array(y.landmarks), atol=1.0)
            found += len(a)
    assert found >= 10


def test_a_photo_sure_to_show_no_face_is_not_searched(weights, shared):
    """The chain skips the face search where the view is sure of a crown or the back of the head,
    and searches everywhere else (a Front photo with a face keeps it)."""
    from inference.models.onnx_runtime import Backend
    from inference.service.domains import load_scalp

    chain = load_scalp(weights, Backend())
    front = [p for p in _photos(shared, ("Front",)) if chain.faces.detect(p)][:1]
    assert front
    sure = {"Top-Down": NO_FACE_SURE, "Back": 0.0, "Front": 1 - NO_FACE_SURE, "Left": 0.0, "Right": 0.0}
    unsure = {"Top-Down": NO_FACE_SURE - 0.05, "Back": 0.0, "Front": 1.05 - NO_FACE_SURE, "Left": 0.0, "Right": 0.0}
    assert set(NO_FACE_VIEWS) <= set(sure)
    skipped = chain.measure(front, views=[ViewEstimate("Top-Down", sure)])[0]
    searched = chain.measure(front, views=[ViewEstimate("Top-Down", unsure)])[0]
    assert skipped.faces == () and skipped.cut is None
    assert searched.faces and searched.cut is not None
