"""Measurements that the grade rests on, from detections and pixel labels."""
from __future__ import annotations

from .types import Detection, ScalpMeasurements, Segmentation


def measure_scalp(seg: Segmentation, dets: list[Detection], image_area: int) -> ScalpMeasurements:
    """Exposed scalp = skin pixels / (skin + hair pixels) inside the detected head region(s)."""
    skin = sum(c.get("skin", 0) for c in seg.region_pixels)
    hair = sum(c.get("hair", 0) for c in seg.region_pixels)
    area = sum(d.box.area for d in dets)
    ratio = skin / (skin + hair) if skin + hair else 0.0
    return ScalpMeasurements(
        exposed_scalp_ratio=float(ratio),
        hair_pixels=int(hair),
        scalp_pixels=int(skin),
        region_fraction=float(min(1.0, area / max(image_area, 1))),
        regions=len(dets),
    )
