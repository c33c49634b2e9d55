"""Where the project keeps its files.

Run time reads only ``weights/`` (or ``$WEIGHTS_DIR``). ``shared_dir`` is for the
training code and tests, never for the product.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def weights_dir() -> Path:
    return Path(os.environ.get("WEIGHTS_DIR", PROJECT_ROOT / "weights"))


def shared_dir() -> Path:
    """The read-only training data beside the checkout (training and tests only)."""
    return Path(os.environ.get("SHARED_DIR", PROJECT_ROOT.parent / "shared"))
