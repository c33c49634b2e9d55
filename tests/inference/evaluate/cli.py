"""``python -m inference.evaluate`` in a fresh process, as a user runs it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_eval(domain: str, project_root: Path, *args: str) -> list[str]:
    """The command's printed lines; the shared data hidden, so it reads only what it is given."""
    proc = subprocess.run([sys.executable, "-m", "inference.evaluate", domain, *args], cwd=project_root,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "SHARED_DIR": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()
