"""What every stage of a face training run reads: the run's arguments, device, folders, log
and encoder (``common.TrainRun``)."""
from __future__ import annotations

import argparse

from ..common import TrainRun, open_run

FaceRun = TrainRun


def start(args: argparse.Namespace) -> FaceRun:
    """Seed, make the folders, open the log, read the encoder."""
    return open_run(args, "face")
