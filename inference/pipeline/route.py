"""Route: which domain model looks at each photo, "scalp" or "face".

The seam for the skin work. Until a router model exists, ``route_batch`` sends
every photo to ``DEFAULT_DOMAIN`` and the service says so in its answer
(``"routing": "default"``). A router fills in ``Router.route`` (one forward pass
for the whole batch, e.g. a face detector: a frontal face -> "face", else
"scalp") and is passed in; nothing else changes.

Example:
    >>> import numpy as np
    >>> route_batch([np.zeros((8, 8, 3), np.uint8)] * 2)
    ['scalp', 'scalp']
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

DOMAINS = ("scalp", "face")
DEFAULT_DOMAIN = "scalp"


class Router(Protocol):
    def route(self, images: list[np.ndarray]) -> list[str]:
        """One domain of ``DOMAINS`` per image."""


def route_batch(images: list[np.ndarray], router: Router | None = None) -> list[str]:
    if router is None:
        return [DEFAULT_DOMAIN] * len(images)
    out = router.route(images)
    assert len(out) == len(images) and all(d in DOMAINS for d in out), out
    return list(out)
