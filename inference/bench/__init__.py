"""Benchmark: the seed-style baseline, this pipeline in process, and the HTTP service.

    python -m inference.bench --data DATASETS       # 64 photos, CPU or the GPU when present
    python -m inference.bench --data DATASETS --n 32 --repeats 2 --concurrency 1,8,64 --json bench.json
    python -m inference.bench --data DATASETS --device cuda --skip-baseline

One run, on the same photos (JPEG bytes read at run time from the valid splits under the
datasets root that ``--data`` names: ``scalp_uze/valid``, and ``acne04/valid/images`` once
a face domain is registered in the service; the README gives this workplace's root):

(a) ``baseline``: what the original hackathon seed did, one photo at a time:
    decode the JPEG, ``ultralytics.YOLO(weights/scalp_yolo.pt).predict(...)``
    (the high-level API with its own pre- and post-processing), then the U-Net
    (``load_unet(weights/scalp_unet.pt)``, torch) once per detected box crop. No drawing.
(b) ``pipeline``: the service's own code path without HTTP, the models loaded once
    (``domains.load_models``): one photo at a time through ``Flow.analyze`` with
    ``max_batch`` 1 (decode, quality gate, route + the domain's chain, draw, JPEG encode,
    base64); and batched (8 photos: ``decode_and_check`` each, one ``predict``,
    ``final_report`` / ``draw`` / ``encode`` each) for throughput. A separate pass times
    every stage (decode, quality, route, detect, segment, grade, draw, encode) by wrapping
    the same functions, so the timed runs are untouched.
(c) ``service``: ``python -m inference serve`` in its own process, as deployed,
    on 127.0.0.1 and a free port, hit by this process's aiohttp client at each
    ``--concurrency`` with multipart ``POST /v1/analyze``; the mean batch size
    comes from the service's /metrics, the RSS (now and peak: VmRSS, VmHWM) from
    the service process (with ``--workers N``: the supervisor and its N workers
    together, and each worker's CPU seconds per level, to show how evenly they
    shared the load). ``--in-process`` runs the app (``create_app``) in this
    process instead: the client then shares the GIL and the RSS with it, which
    adds to the latency (by about 30 ms at concurrency 1 on the 2-core CPU, when the
    service moved to its own process: CHANGELOG.md, 2026-11-26).

(a) and (b) run in this process after (c); the CPUs are shared by the client and
the service in (c), as on a real host with its load balancer. Latency is p50 / p95 in
ms, throughput photos/s; ratios are against (a): ``baseline p50 / p50`` and
``photos/s / baseline photos/s``.

Targets (``report.TARGETS``): on a CPU, one photo end to end (service at concurrency 1)
p50 <= 120 ms and >= 1.5x the baseline, service RSS <= 1.2 GB; on a GPU,
>= 1,000 photos/s at concurrency 64 and >= 5x concurrency 1.

The package, one role a module: ``photos`` (which photos), ``system`` (RSS, CPU seconds,
the service's process tree), ``baseline`` (a), ``pipeline`` (b), ``service`` (c),
``report`` (summaries, ratios, targets, the printed table), ``__main__`` (the command line
and the order of the sections).
"""
