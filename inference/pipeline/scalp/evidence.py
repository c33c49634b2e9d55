"""Does the photo show a scalp? The check under every scalp grade.

A scalp grade needs a head: the detector's best box, and hair and scalp skin filling a fair
share of it above any found face's brow line (the scalp zone, ``anatomy.py``). The scalp
networks were trained on photos that always show a head, so on a photo of no head they still
find a box and paint some of it (a coffee cup, a landscape); what they paint there is mostly
other skin or background, or a thin layer of "hair" on a texture. The router's "neither"
catches most such photos, and this check is what stands when a person forces the scalp
(the API's ``domain=scalp``, the bot's re-analyse button).

Thresholds, from the chain of ``weights/`` on photos the networks never graded
(2026-12-07; the figures in the model card, "Evidence under every grade"): on the 465
scalp_uze train photos the best box scored at least 0.198 and hair + scalp filled at least
0.126 of it; of 200 code-made pictures of no head (``inference/train/router/neither.py``)
85 fall under these, and the router calls all 200 neither; 10 of 200 ACNE04 close-ups
forced to the scalp fall under them.

Example:
    >>> shows_scalp(0.8, {"hair": 500, "scalp": 300, "other_skin": 100, "background": 100}, 1000)
    True
    >>> shows_scalp(0.8, {"hair": 20, "scalp": 30, "other_skin": 400, "background": 550}, 1000)
    False
"""
from __future__ import annotations

from collections.abc import Mapping

HEAD_SCORE_MIN = 0.10  # the detector's best box: scalp_uze train's lowest was 0.198
SCALP_SHARE_MIN = 0.10  # (hair + scalp in the scalp zone) / the box's pixels: train's lowest 0.126


def shows_scalp(head_score: float, zone_pixels: Mapping[str, int], box_pixels: int) -> bool:
    """A head box, with hair and scalp skin in at least ``SCALP_SHARE_MIN`` of it (counted in
    the scalp zone: ``zone_pixels``, the region's pixel counts per class)."""
    if head_score < HEAD_SCORE_MIN or box_pixels <= 0:
        return False
    return (zone_pixels.get("hair", 0) + zone_pixels.get("scalp", 0)) / box_pixels >= SCALP_SHARE_MIN
