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


# both domains are likely enough to ask the person which one they meant (a front view shows the
# hairline and the face); under this the other domain is a router error, not a choice
BOTH_LIKELY = 0.25


def could_be(domain: str, probabilities: dict[str, float] | None, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The domains a routed photo could be meant for, the chosen one first: the other one too
    where the router gives both at least ``BOTH_LIKELY`` or the chain saw the other's subject
    (``also``: a scalp photo with a trusted face, a portrait the face claimed).

    >>> could_be("scalp", {"scalp": 0.6, "face": 0.35, "neither": 0.05})
    ('scalp', 'face')
    >>> could_be("face", {"scalp": 0.01, "face": 0.99, "neither": 0.0})
    ('face',)
    """
    others = [d for d in DOMAINS if d != domain]
    p = probabilities or {}
    both = p.get(domain, 0.0) >= BOTH_LIKELY and all(p.get(d, 0.0) >= BOTH_LIKELY for d in others)
    return (domain, *[d for d in others if both or d in also])


def route(images: list[np.ndarray], router: RouterModel | None) -> list[RouteDecision]:
    """One decision per image (``DEFAULT_DOMAIN`` for all without a router)."""
    if router is None:
        return [RouteDecision(DEFAULT_DOMAIN) for _ in images]
    p = router.probabilities(images)
    si, fi, ni = (router.classes.index(c) for c in ROUTE_CLASSES)
    return [RouteDecision("face" if q[fi] > q[si] else "scalp", bool(q.argmax() == ni),
                          {c: round(float(v), 4) for c, v in zip(router.classes, q)}) for q in p]
