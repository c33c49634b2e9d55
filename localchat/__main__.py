"""``python -m localchat [options]``: the whole product on this machine (see ``devstack.py``)."""
from __future__ import annotations

import sys

from .devstack import main

if __name__ == "__main__":
    sys.exit(main())
