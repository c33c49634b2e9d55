"""Where the tests find the checkout's files: the weights it ships and the read-only data beside it."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = Path(os.environ.get("WEIGHTS_DIR") or ROOT / "weights")
SHARED = Path(os.environ.get("SHARED_DIR") or ROOT.parent / "shared")
MESSAGES = ROOT / "messages"
