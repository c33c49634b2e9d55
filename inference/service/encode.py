"""Draw and encode: one photo's prediction -> the annotated JPEG and the JSON answer.

A photo failing the quality gate (``too_small``, ``too_dark``, ``too_bright``, ``blurry``
before the models; ``not_scalp_or_face`` from the router or the models' evidence;
``no_scalp_found`` / ``no_face_found`` where the domain asked for is not in the photo) is a
valid request: the answer is the normal JSON with ``quality.ok`` false, the reasons, and
``grade``, ``confidence`` and ``annotated_jpeg`` null; the bot shows the retake advice.
"""
from __future__ import annotations

import base64

import cv2
import numpy as np

from inference.pipeline.common import quality as gate
from inference.pipeline.common.decode import DecodedImage
from inference.pipeline.common.draw import Annotation, render_jpeg
from inference.pipeline.common.quality import QualityReport

from .predict import Prediction


def final_report(report: QualityReport, pred: Prediction | None) -> QualityReport:
    """The gate's verdict once the models ran: the router's rejection, or the check under the
    grade (``quality.subject_reason``, which includes the older region evidence)."""
    if pred is None:
        return report
    if pred.rejected:
        report = report.with_reason(pred.rejected)
    out = pred.output
    if out is not None and pred.domain is not None:
        requested = pred.routing == "requested"
        found = out.found and gate.region_reason(out.evidence) is None
        why = gate.subject_reason(pred.domain, requested, found, out.sure, pred.router_neither)
        if why:
            report = report.with_reason(why)
    return report


def draw(img: DecodedImage, pred: Prediction) -> bytes:
    """The annotated JPEG of a graded photo."""
    out = pred.output
    assert out is not None and pred.domain is not None
    seg = out.segmentation
    a = Annotation(pred.domain, out.detections, seg.labels if seg is not None else None,
                   seg.classes if seg is not None else (), out.grade, out.headline)
    return render_jpeg(img.rgb, a)


def mask_png(labels: np.ndarray) -> str:
    """Class indices as a base64 PNG (8-bit grey; lossless, and mostly runs of one value)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding of the class mask failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def encode(img: DecodedImage, report: QualityReport, pred: Prediction | None, jpeg: bytes | None,
           timings_ms: dict[str, float], model_version: str, requested: str = "auto") -> dict:
    """The JSON answer for one photo; ``report`` is the final one (``final_report``)."""
    out = pred.output if pred is not None else None
    graded = out is not None and report.ok
    g = out.grade if graded and out is not None else None
    domain = pred.domain if pred is not None else (requested if requested != "auto" else None)
    seg = out.segmentation if out is not None else None
    masks = ({"format": "png", "classes": list(seg.classes), "data": mask_png(seg.labels)}
             if seg is not None else None)
    return {
        "domain": domain,
        "routing": pred.routing if pred is not None else ("requested" if requested != "auto" else None),
        "route_probabilities": pred.route_probabilities if pred is not None else None,
        # the domains the photo could be meant for (the chosen one first); two: a client may ask
        "could_be": list(pred.could_be) if pred is not None and graded else [],
        "grade": g.grade if g else None,
        "confidence": g.confidence if g else None,
        "grade_detail": (
            {"best_guess": g.best_guess, "probabilities": g.probabilities, "reasons": list(g.reasons)} if g else None
        ),
        "quality": report.as_dict(),
        "regions": [dict(r) for r in out.regions] if out is not None else [],
        "measurements": out.measurements if out is not None else None,
        # what was measured: class indices (``classes`` in index order) at the size of ``image``
        "masks": masks,
        "model_version": model_version,
        "image": {
            "width": int(img.rgb.shape[1]),
            "height": int(img.rgb.shape[0]),
            "original_width": img.original_size[0],
            "original_height": img.original_size[1],
            "format": img.format,
        },
        "timings_ms": {k: round(v, 1) for k, v in timings_ms.items()},
        "annotated_jpeg": base64.b64encode(jpeg).decode("ascii") if jpeg is not None else None,
    }
