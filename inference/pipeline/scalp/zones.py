"""Zones: the exposed scalp where the Norwood-Hamilton scale looks, as each view shows it.

The scale follows the frontal hairline and the temples, the mid-scalp and the crown
(vertex). A photo shows some of them; ``zone_masks`` says which pixels of the head belong to
each (the head: hair and scalp pixels in the scalp zone, ``anatomy.py``), from two
directions: "up" (from the face's mouth to its eyes where a face was found, else the photo's
up) and, on side views, "towards the face" (the face's side of the head, else the side the
view names: a left view looks at the left side, so the face points to the photo's left).

=========  ==================================================================================
view       zones
=========  ==================================================================================
Front      frontal: the ``FRONTAL_SHARE`` of the head nearest the brows (lowest along up);
           mid: the rest
Left/Right frontal: the ``FRONTAL_SHARE`` nearest the face, in the upper half; crown: the
           ``CROWN_SHARE`` farthest from the face, in the upper half; mid: the rest of the
           upper half (the lower half is the side and back of the head, below the scale)
Top-Down   crown: the central disc, ``CROWN_RADIUS`` of the head's radius; mid: the ring
           around it (a crown photo has no known front)
Back       crown: the upper ``CROWN_SHARE`` of the head
=========  ==================================================================================

Each zone's exposed ratio is scalp / (scalp + hair) over its pixels (``zone_ratios``), None
where a zone is not shown or has under ``MIN_ZONE_PIXELS``.

Example (a head of hair with a bald crown, seen from above):
    >>> import numpy as np
    >>> lab = np.zeros((100, 100), np.uint8); lab[10:90, 10:90] = 1; lab[32:68, 32:68] = 2
    >>> r = zone_ratios(lab, zone_masks(lab, np.ones((100, 100), bool), "Top-Down", []))
    >>> r["crown"] > 0.5, r["mid"] < 0.2, r["frontal"] is None
    (True, True, True)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inference.types import Face

from .anatomy import HAIR, SCALP

ZONES = ("frontal", "mid", "crown")
FRONTAL_SHARE = 0.35  # of the head's extent along the direction that reaches the frontal hairline
CROWN_SHARE = 0.4
CROWN_RADIUS = 0.55  # of the head's equivalent radius (the crown, seen from above)
MIN_ZONE_PIXELS = 400  # hair + scalp pixels under this: too little to measure a zone


def _rank(values: np.ndarray) -> np.ndarray:
    """Each value's position between the head's 2nd and 98th percentile (0..1): robust to a
    few stray pixels at either end."""
    lo, hi = percentiles(values, (2, 98)) if len(values) else (0.0, 1.0)
    return np.clip((values - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def percentiles(values: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    """``np.percentile(values, qs)`` (linear interpolation), from a histogram where the values
    are whole numbers (pixel rows or columns, where the head's up is the photo's): the same
    figures up to float rounding, without sorting some 200,000 pixels (2-3 ms a photo on this
    project's CPU, 2026-12-07)."""
    whole = values.astype(np.int64)
    if not np.array_equal(whole, values):
        return tuple(float(v) for v in np.percentile(values, qs))
    low = int(whole.min())
    cum = np.cumsum(np.bincount(whole - low))
    n = len(values)
    out = []
    for q in qs:
        at = q / 100 * (n - 1)
        i = int(np.floor(at))
        j = min(i + 1, n - 1)
        vi, vj = (int(np.searchsorted(cum, k, side="right")) + low for k in (i, j))
        out.append(vi + (at - i) * (vj - vi))
    return tuple(float(v) for v in out)


def _up(faces: Sequence[Face]) -> np.ndarray:
    if faces:
        v = np.subtract(faces[0].eyes, faces[0].mouth)
        n = float(np.hypot(*v))
        if n >= 1:
            return v / n
    return np.array([0.0, -1.0])  # the photo's up (y grows downwards)


def zone_masks(labels: np.ndarray, zone: np.ndarray, view: str | None,
               faces: Sequence[Face]) -> dict[str, np.ndarray | None]:
    """Boolean masks of the head pixels in each zone the view shows (None: not shown)."""
    head = ((labels == HAIR) | (labels == SCALP)) & zone
    out: dict[str, np.ndarray | None] = dict.fromkeys(ZONES)
    ys, xs = np.nonzero(head)
    if not len(xs) or view is None:
        return out
    up = _up(faces)
    along_up = _rank(xs * up[0] + ys * up[1])

    def mask_of(sel: np.ndarray) -> np.ndarray:
        m = np.zeros(labels.shape, bool)
        m[ys[sel], xs[sel]] = True
        return m

    if view == "Front":
        out["frontal"] = mask_of(along_up < FRONTAL_SHARE)
        out["mid"] = mask_of(along_up >= FRONTAL_SHARE)
    elif view in ("Left", "Right"):
        side = np.array([-up[1], up[0]])  # perpendicular to up
        if faces:  # towards the face: the face's centre lies on that side of the head
            cx, cy = (faces[0].box.x1 + faces[0].box.x2) / 2, (faces[0].box.y1 + faces[0].box.y2) / 2
            if (cx - xs.mean()) * side[0] + (cy - ys.mean()) * side[1] < 0:
                side = -side
        elif (view == "Left") == (side[0] > 0):  # a left view's face points to the photo's left
            side = -side
        towards = _rank(xs * side[0] + ys * side[1])
        upper = along_up >= 0.5
        out["frontal"] = mask_of(upper & (towards >= 1 - FRONTAL_SHARE))
        out["crown"] = mask_of(upper & (towards <= CROWN_SHARE))
        out["mid"] = mask_of(upper & (towards > CROWN_SHARE) & (towards < 1 - FRONTAL_SHARE))
    elif view == "Top-Down":
        r = np.hypot(xs - xs.mean(), ys - ys.mean())
        radius = np.sqrt(len(xs) / np.pi)
        out["crown"] = mask_of(r <= CROWN_RADIUS * radius)
        out["mid"] = mask_of(r > CROWN_RADIUS * radius)
    elif view == "Back":
        out["crown"] = mask_of(along_up >= 1 - CROWN_SHARE)
    return out


def zone_ratios(labels: np.ndarray, masks: dict[str, np.ndarray | None]) -> dict[str, float | None]:
    """Each zone's exposed ratio, scalp / (scalp + hair) (None: not shown or too small)."""
    out: dict[str, float | None] = {}
    for name in ZONES:
        m = masks.get(name)
        if m is None:
            out[name] = None
            continue
        scalp, hair = int((labels[m] == SCALP).sum()), int((labels[m] == HAIR).sum())
        out[name] = scalp / (scalp + hair) if scalp + hair >= MIN_ZONE_PIXELS else None
    return out
