"""Route: which domain chain looks at each photo, "scalp" or "face", or neither.

The router (``inference.models.router.Router``) is one small classifier, one forward pass
for the whole batch. Without a router every photo goes to ``DEFAULT_DOMAIN`` and the
service says so (``"routing": "default"``). A photo the router calls "neither" is not
analysed: the service answers the ``not_scalp_or_face`` quality reason.

Example:
    >>> import numpy as np
    >>> [d.domain for d in route([np.zeros((8, 8, 3), np.uint8)] * 2, None)]
    ['scalp', 'scalp']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

DOMAINS = ("scalp", "face")
DEFAULT_DOMAIN = "scalp"
NEITHER = "neither"
ROUTE_CLASSES = ("scalp", "face", NEITHER)


class RouterModel(Protocol):
    classes: tuple[str, ...]

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        """N x len(classes) probabilities."""
        ...


@dataclass(frozen=True)
class RouteDecision:
    domain: str  # "scalp" or "face": the chain to run (the likelier of the two)
    neither: bool = False  # the photo looks like neither: the service answers not_scalp_or_face
    probabilities: dict[str, float] = field(default_factory=dict)  # empty without a router


def route(images: list[np.ndarray], router: RouterModel | None) -> list[RouteDecision]:
    """One decision per image (``DEFAULT_DOMAIN`` for all without a router)."""
    if router is None:
        return [RouteDecision(DEFAULT_DOMAIN) for _ in images]
    p = router.probabilities(images)
    si, fi, ni = (router.classes.index(c) for c in ROUTE_CLASSES)
    return [RouteDecision("face" if q[fi] > q[si] else "scalp", bool(q.argmax() == ni),
                          {c: round(float(v), 4) for c, v in zip(router.classes, q)}) for q in p]
