"""``python -m inference.bench``: the command line, and the order of the sections (the package
docstring says what each measures)."""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

# Ultralytics otherwise looks online for updates and fonts; the service process of (c) inherits it
os.environ.setdefault("YOLO_OFFLINE", "1")

import inference.bench  # noqa: E402
from inference.models.onnx_runtime import usable_cores  # noqa: E402

from .photos import face_domain_registered, load_photos, photo_files  # noqa: E402
from .report import check_targets, ratios, report  # noqa: E402
from .system import CpuWatch, device_name, mb, peak_rss_bytes, rss_bytes  # noqa: E402

SERVICE_SETTINGS = ("max_batch", "max_wait_ms", "max_queue", "threads", "io_threads", "workers")  # shown in meta


def _ints(text: str) -> list[int]:
    return [int(x) for x in str(text).split(",") if x.strip()]


def run(args: argparse.Namespace) -> dict:
    import torch

    from inference.service.domains import load_models
    from inference.service.settings import Settings

    from .baseline import bench_baseline
    from .pipeline import bench_pipeline
    from .service import bench_service

    worker_counts = _ints(args.workers) if args.workers else [None]
    settings = Settings.from_env(device=args.device, weights=Path(args.weights) if args.weights else None,
                                 workers=worker_counts[0])
    if args.in_process and (settings.workers > 1 or len(worker_counts) > 1):
        raise SystemExit("--in-process runs one service process; leave out --workers")
    device = settings.resolved_device()
    if args.threads:
        torch.set_num_threads(args.threads)
    with_face = face_domain_registered()
    files = photo_files(args.data, with_face)
    photos = load_photos(files, args.n)
    levels = _ints(args.concurrency)
    warmup = max(1, min(args.warmup, len(photos)))
    sources = dict.fromkeys(str(f.parent) for f in files[: len(photos)])
    res: dict[str, Any] = {
        "meta": {
            "device": device,
            "device_name": device_name(device),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpus": usable_cores(),
            "photos": len(photos),
            "distinct_files": min(len(files), len(photos)),
            "photo_source": " + ".join(sources) + (" (interleaved)" if with_face else ""),
            "face_domain": with_face,
            "repeats": args.repeats,
            "warmup": warmup,
            "service_settings": {k: getattr(settings, k) for k in SERVICE_SETTINGS},
            "rss_start_mb": mb(rss_bytes()),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if not args.quiet else (lambda *a: None)
    watch = CpuWatch()

    log(f"[bench] (c) service at concurrency {levels} ...")
    res["service"] = bench_service(settings, photos, levels, args.repeats, warmup, args.in_process)
    # more worker counts (--workers 1,2): the same load on the same photos, one after the other
    res["service_more_workers"] = {}
    for w in worker_counts[1:]:
        log(f"[bench] (c) service with {w} workers ...")
        res["service_more_workers"][str(w)] = bench_service(settings.replace(workers=w), photos, levels,
                                                            args.repeats, warmup)
    gc.collect()

    log("[bench] (b) pipeline in process ...")
    models = load_models(settings)
    scalp = models.chains.get("scalp")
    res["meta"]["flips"] = list(getattr(scalp, "flips", ()))
    res.update(bench_pipeline(models, settings, photos, args.repeats, warmup))
    del models, scalp
    gc.collect()

    if args.skip_baseline:
        res["baseline"] = None
    else:
        log("[bench] (a) seed-style baseline ...")
        res["baseline"] = bench_baseline(photos, Path(settings.weights), device, args.repeats, warmup)

    base = res["baseline"]
    levels_c = res["service"]["levels"]
    res["ratios"] = {
        "pipeline_single": ratios(base, res["pipeline"]["single"]),
        "pipeline_batched": ratios(base, res["pipeline"]["batched"]),
        **{f"service_c{c}": ratios(base, row) for c, row in levels_c.items()},
        # more workers against the first worker count, level by level
        **{f"workers{w}_c{c}": ratios(levels_c[c], row)
           for w, more in res["service_more_workers"].items() for c, row in more["levels"].items()},
    }
    res["rss"] = {
        "service_after_load_mb": res["service"]["rss_after_load_mb"],
        "service_after_load_test_mb": res["service"]["rss_after_load_test_mb"],
        "service_peak_mb": res["service"]["peak_rss_mb"],
        "process_peak_mb": mb(peak_rss_bytes()),
    }
    res["targets"] = check_targets(res)
    res["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["meta"]["other_processes_cpu_share"] = watch.others_share()
    return res


def parser() -> argparse.ArgumentParser:
    doc = inference.bench.__doc__ or ""
    p = argparse.ArgumentParser(prog="python -m inference.bench", description=doc.split("\n")[0])
    p.add_argument("--data", type=Path, required=True,
                   help="a datasets root (holding scalp_uze/valid, and acne04/valid/images) or a folder of photos")
    p.add_argument("--n", type=int, default=64, help="photos (default 64; cycles when the split has fewer)")
    p.add_argument("--device", default=None, help="default $INFERENCE_DEVICE, else cuda when present, else cpu")
    p.add_argument("--weights", default=None, help="default $WEIGHTS_DIR or weights/")
    p.add_argument("--repeats", type=int, default=3, help="passes over the photos in each timed section (default 3)")
    p.add_argument("--concurrency", default="1,8,64", help="service client concurrency levels (default 1,8,64)")
    p.add_argument("--warmup", type=int, default=4, help="untimed photos before each section (default 4)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--skip-baseline", action="store_true", help="leave out (a)")
    p.add_argument("--workers", default=None,
                   help="service processes for (c), or a list such as 1,2 to compare them on the same photos "
                        "(default $INFERENCE_WORKERS or 1; inference/service/workers.py)")
    p.add_argument("--in-process", action="store_true",
                   help="run the service in this process (default: its own process, as deployed; "
                        "the client then shares no GIL with it)")
    p.add_argument("--json", dest="json_out", type=Path, default=None, help="write the figures here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.n < 1 or args.repeats < 1:
        p.error("--n and --repeats must be at least 1")
    import logging

    logging.getLogger("ultralytics").setLevel(logging.WARNING)
    res = run(args)
    print(report(res), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
