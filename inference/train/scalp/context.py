"""What every stage of a scalp training run reads: the run (``common.TrainRun``) and its photos."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

from ..common import TrainRun, open_run
from ..segdata import read_scalp_index


@dataclass(frozen=True)
class ScalpRun(TrainRun):
    rows: list[dict] = field(default_factory=list)  # scalp_uze, both splits (``--limit`` per split)

    @property
    def train_rows(self) -> list[dict]:
        return [r for r in self.rows if r["split"] == "train"]

    @property
    def valid_rows(self) -> list[dict]:
        return [r for r in self.rows if r["split"] == "valid"]


def start(args: argparse.Namespace, log_name: str = "run.json") -> ScalpRun:
    """Seed, make the folders, open the log (``build/scalp/<log_name>``), read the encoder and
    the photo index."""
    run = open_run(args, "scalp", log_name)
    rows = read_scalp_index(run.shared / "datasets/scalp_uze")
    if args.limit:
        rows = [r for s in ("train", "valid") for r in [r for r in rows if r["split"] == s][: args.limit]]
    return ScalpRun(**{f.name: getattr(run, f.name) for f in fields(TrainRun)}, rows=rows)
