"""Shared fixtures: the read-only training data beside the checkout, the shipped weights.

The product finds its weights through ``WEIGHTS_DIR`` and training code its data through
``SHARED_DIR``; the tests set both to the checkout's (unless set already), so that they
run from any working directory and the subprocesses they start inherit them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.paths import ROOT, SHARED, WEIGHTS

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("WEIGHTS_DIR", str(WEIGHTS))
os.environ.setdefault("SHARED_DIR", str(SHARED))


@pytest.fixture(scope="session")
def shared() -> Path:
    assert (SHARED / "datasets").is_dir(), f"the training data folder {SHARED} is missing (it lies beside the checkout)"
    return SHARED


@pytest.fixture(scope="session")
def weights() -> Path:
    assert (WEIGHTS / "scalp_yolo.pt").exists(), f"trained weights missing in {WEIGHTS}"
    return WEIGHTS


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT
