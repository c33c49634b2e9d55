"""Shared fixtures: the read-only training data beside the checkout, the shipped weights."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")

from inference.paths import PROJECT_ROOT, shared_dir, weights_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    assert (d / "datasets").is_dir(), f"the training data folder {d} is missing (it lies beside the checkout)"
    return d


@pytest.fixture(scope="session")
def weights() -> Path:
    d = weights_dir()
    assert (d / "scalp_yolo.pt").exists(), f"trained weights missing in {d}"
    return d


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
