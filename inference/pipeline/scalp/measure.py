"""Measure: what the scalp grade rests on, from the head region and its pixel labels."""
from __future__ import annotations

from dataclasses import dataclass, field

from inference.types import Detection, Segmentation


@dataclass(frozen=True)
class ScalpMeasurements:
    exposed_scalp_ratio: float  # scalp skin / (scalp skin + hair) in the scalp zone of the region(s)
    hair_pixels: int
    scalp_pixels: int
    region_fraction: float  # region area / image area
    regions: int
    zones: dict[str, float | None] = field(default_factory=dict)  # zones.ZONES -> exposed ratio (None: not shown)
    view: str | None = None  # the view the photo shows (None: no view classifier)
    view_probabilities: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "exposed_scalp_ratio": round(self.exposed_scalp_ratio, 4),
            "hair_pixels": self.hair_pixels,
            "scalp_pixels": self.scalp_pixels,
            "region_fraction": round(self.region_fraction, 4),
            "regions": self.regions,
            "zones": {k: (round(v, 4) if v is not None else None) for k, v in self.zones.items()},
            "view": self.view,
        }


def measure_scalp(seg: Segmentation, dets: list[Detection], image_area: int,
                  zones: dict[str, float | None] | None = None, view: str | None = None,
                  view_probabilities: dict[str, float] | None = None) -> ScalpMeasurements:
    """Exposed scalp = scalp skin pixels / (scalp skin + hair pixels) in the scalp zone of the
    detected head region(s) (``Segmentation.region_pixels``: face, ears, neck and background
    are not counted)."""
    skin = sum(c.get("scalp", 0) for c in seg.region_pixels)
    hair = sum(c.get("hair", 0) for c in seg.region_pixels)
    area = sum(d.box.area for d in dets)
    ratio = skin / (skin + hair) if skin + hair else 0.0
    return ScalpMeasurements(
        exposed_scalp_ratio=float(ratio),
        hair_pixels=int(hair),
        scalp_pixels=int(skin),
        region_fraction=float(min(1.0, area / max(image_area, 1))),
        regions=len(dets),
        zones=dict(zones or {}),
        view=view,
        view_probabilities=dict(view_probabilities or {}),
    )
