"""Grade-CNN training speed on this machine: one batch (forward, backward, AdamW step)
in PyTorch's default memory layout against channels-last, which ``train_grade_cnn`` uses.
Both in this process, alternated, on the same random crops; prints seconds per batch and
the ratio. Needs no data and no weights.

    .venv/bin/python scripts/bench_train_step.py            # batch 32 at 224 px, torch's threads
    .venv/bin/python scripts/bench_train_step.py --size 224 --batch 32 --steps 6 --rounds 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inference.models.classifier import build_mobilenet  # noqa: E402
from inference.train.scalp.grade_cnn import _augment, store_size  # noqa: E402


def seconds_per_batch(channels_last: bool, crops: np.ndarray, size: int, steps: int) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = build_mobilenet(3, None).to(memory_format=fmt).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    target = torch.zeros(len(crops), dtype=torch.long)
    times = []
    for i in range(steps + 1):  # the first step warms up and is not counted
        t = time.perf_counter()
        x = torch.from_numpy(_augment(crops, size, rng)).to(memory_format=fmt)
        loss = torch.nn.functional.cross_entropy(net(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2, help="alternations of the two layouts")
    a = p.parse_args()
    side = store_size(a.size)  # crops are kept larger than the input, as in training
    crops = np.random.default_rng(0).integers(0, 255, (a.batch, side, side, 3), np.uint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch} at {a.size} px")
    res = {False: [], True: []}
    for _ in range(a.rounds):
        for cl in (False, True):
            res[cl].append(seconds_per_batch(cl, crops, a.size, a.steps))
    base, cl = statistics.median(res[False]), statistics.median(res[True])
    print(f"default layout  {base:.3f} s/batch")
    print(f"channels-last   {cl:.3f} s/batch")
    print(f"speed-up        {base / cl:.2f}x")


if __name__ == "__main__":
    main()
