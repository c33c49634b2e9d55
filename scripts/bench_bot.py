#!/usr/bin/env python
"""Measure the bot's own overhead: update-to-reply time minus the service's reported time.

Runs everything on loopback in one process: the local Bot API server
(localchat/botapi), the inference service (the real one with weights/ when the
weights are there, else the stand-in model, which the output says), and the
real bot application polling the local server.

For each photo: t0 = the moment the update is available to getUpdates (the
local server's control call returned), t1 = the moment the annotated photo
reply is stored by the local server, service = the service's own
``timings_ms.total`` from its answer. overhead = (t1 - t0) - service: polling,
the durable job row, getFile and the download, the HTTP round trip to the
service, rendering the caption, uploading the photo, and the bookkeeping.

    .venv/bin/python scripts/bench_bot.py                 # 30 sequential + 3 rounds of 10 at once
    .venv/bin/python scripts/bench_bot.py --photos 50 --concurrent 0
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

# the repository root, for tests.fakes.stack (not an installed package)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.datasets import valid_photos  # noqa: E402
from inference.train.shared import shared_dir  # noqa: E402
from localchat.botapi import LocalApiClient  # noqa: E402
from tests.fakes.stack import (  # noqa: E402
    bot_settings,
    inference_service,
    local_telegram,
    running_bot,
)

REPLY_TIMEOUT = 300.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def one(tg: LocalApiClient, user_id: int, photo: bytes) -> tuple[float, float]:
    """(t0, t1) of one photo: update available -> annotated photo stored."""
    sent = await tg.send_photo(user_id, photo)
    t0 = time.perf_counter()
    after = sent["message_id"]
    while True:
        messages = await tg.wait_for_messages(user_id, 1, after=after, timeout=REPLY_TIMEOUT)
        t1 = time.perf_counter()
        for m in messages:
            if m["kind"] == "photo" and m.get("reply_to_message_id") == sent["message_id"]:
                return t0, t1
            if m.get("reply_to_message_id") == sent["message_id"]:
                raise RuntimeError(f"the photo was not graded: {m.get('text', '')[:80]!r}")
        after = messages[-1]["message_id"]


def report(label: str, totals: list[float], services: list[float]) -> None:
    overheads = [t - s for t, s in zip(totals, services)]
    print(f"\n{label}: {len(totals)} photos")
    print(f"  {'':22s} {'p50':>9s} {'p95':>9s} {'mean':>9s} {'max':>9s}")
    for name, values in (("update -> reply (ms)", totals), ("service total (ms)", services),
                         ("bot overhead (ms)", overheads)):
        print(f"  {name:22s} {pct(values, 0.5):9.1f} {pct(values, 0.95):9.1f} "
              f"{statistics.fmean(values):9.1f} {max(values):9.1f}")


async def main(args: argparse.Namespace) -> None:
    photos = [p.read_bytes() for p in valid_photos(shared_dir() / "datasets", "scalp_uze") if "Top-Down" in p.name]
    real = None if args.service == "auto" else args.service == "real"
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            local_telegram() as server,
            inference_service(real=real) as service,
            LocalApiClient(server.url) as tg,
        ):
            print(f"inference service: {'REAL (weights/)' if service.real else 'STAND-IN model'}")
            settings = bot_settings(server, service.url, Path(tmp) / "bot.sqlite3")
            async with running_bot(settings) as application:
                worker = application.bot_data["services"].worker
                service_ms: dict[int, float] = {}
                worker.on_answered = lambda job, _elapsed, ms: service_ms.__setitem__(
                    job.user_id, ms)

                async def run(users: list[dict], batch: list[bytes]) -> list[tuple[float, float]]:
                    timings = await asyncio.gather(*(one(tg, u["id"], p)
                                                     for u, p in zip(users, batch)))
                    await asyncio.sleep(0.2)  # let the on_answered hooks of the last ones run
                    return [(1000 * (t1 - t0), service_ms[u["id"]])
                            for u, (t0, t1) in zip(users, timings)]

                warm = [await tg.create_user(f"워밍업{i}") for i in range(2)]
                await run(warm, photos[:2])

                totals: list[float] = []
                services: list[float] = []
                for i in range(args.photos):
                    user = await tg.create_user(f"순차{i}")
                    [(total, svc)] = await run([user], [photos[i % len(photos)]])
                    totals.append(total)
                    services.append(svc)
                report("sequential (one photo at a time)", totals, services)

                if args.concurrent:
                    totals, services = [], []
                    for r in range(args.rounds):
                        users = [await tg.create_user(f"동시{r}-{i}") for i in range(args.concurrent)]
                        batch = [photos[(r * args.concurrent + i) % len(photos)]
                                 for i in range(args.concurrent)]
                        for total, svc in await run(users, batch):
                            totals.append(total)
                            services.append(svc)
                    report(f"{args.concurrent} users at once, {args.rounds} rounds", totals, services)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=30, help="sequential photos (default 30)")
    parser.add_argument("--concurrent", type=int, default=10,
                        help="users sending at once per round (0: skip; default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="concurrent rounds (default 3)")
    parser.add_argument("--service", choices=("auto", "real", "standin"), default="auto")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
