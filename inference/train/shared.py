"""Where the read-only training data lies: ``$SHARED_DIR``, else ``../shared`` beside the
working directory (a checkout's root). Only training and its tools read it; the product's
run time never does."""
from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """The read-only training data folder."""
    return Path(os.environ.get("SHARED_DIR") or "../shared")
