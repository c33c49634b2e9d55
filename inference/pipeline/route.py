"""Route: which domain model looks at each photo, "scalp" or "face", or neither.

The router (``inference.pipeline.router.SkinRouter``, ``weights/router.pt``) is one
small classifier, one forward pass for the whole batch; ``load_router`` returns it,
or None where its weights are absent. Without a router ``route_batch`` sends every
photo to ``DEFAULT_DOMAIN`` and the service says so (``"routing": "default"``).
A photo the router calls "neither" is not analysed: the service answers the
``not_scalp_or_face`` quality reason.

Example:
    >>> import numpy as np
    >>> route_batch([np.zeros((8, 8, 3), np.uint8)] * 2)
    ['scalp', 'scalp']
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

DOMAINS = ("scalp", "face")
DEFAULT_DOMAIN = "scalp"
NEITHER = "neither"


class Router(Protocol):
    def route(self, images: list[np.ndarray]) -> list[str]:
        """One domain of ``DOMAINS`` per image."""


def route_batch(images: list[np.ndarray], router: Router | None = None) -> list[str]:
    if router is None:
        return [DEFAULT_DOMAIN] * len(images)
    out = router.route(images)
    assert len(out) == len(images) and all(d in DOMAINS for d in out), out
    return list(out)


def load_router(directory: Path | None = None, device: str = "cpu"):
    """The trained ``SkinRouter`` from ``directory`` (default ``weights/``), or None without ``router.pt``."""
    from inference.paths import weights_dir
    from inference.pipeline.router import ROUTER_WEIGHTS, SkinRouter

    d = Path(directory or weights_dir())
    return SkinRouter.load(d, device, runtime=True) if (d / ROUTER_WEIGHTS).is_file() else None
