"""Command line: the service, or the same pipeline on one photo without HTTP.

    python -m inference serve [--host 127.0.0.1] [--port 8090] [--device cuda|cpu] [--weights DIR] [--workers N]
    python -m inference analyze PHOTO [--domain auto|scalp|face] [--out annotated.jpg] [--device cpu]

``analyze`` prints the service's JSON answer without the image (``annotated_jpeg``
is written to ``--out`` when given). Exit status 0 when the photo was analysed
(also when it failed the quality gate), 2 for input the service would answer
with 4xx.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from pathlib import Path


def _settings(args: argparse.Namespace):
    from inference.service.settings import Settings

    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        device=args.device,
        weights=Path(args.weights) if args.weights else None,
        workers=getattr(args, "workers", None),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from inference.service.app import serve

    return serve(_settings(args))


@contextlib.contextmanager
def _stdout_to_stderr():
    """Libraries print while loading (Ultralytics: the model summary): keep stdout for the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_analyze(args: argparse.Namespace) -> int:
    """Check the photo first (no model needed for bad input), then load the models and analyse it."""
    import time

    with _stdout_to_stderr():
        from inference.pipeline.decode import DecodeError
        from inference.service.runner import REQUEST_DOMAINS, Runner

    t0 = time.perf_counter()
    try:
        img, report, timings = Runner.decode(Path(args.photo).read_bytes())
    except DecodeError as e:
        print(json.dumps({"error": {"code": e.code, "message": e.message}}, ensure_ascii=False))
        return 2
    load_started = time.perf_counter()
    with _stdout_to_stderr():
        runner = Runner.setup(_settings(args))
    if args.domain not in REQUEST_DOMAINS or not runner.available(args.domain):
        print(json.dumps({"error": {"code": "domain_unavailable", "message": f"no {args.domain} models yet"}}))
        return 2
    t0 += time.perf_counter() - load_started  # the total leaves out loading the models, as in the service
    with _stdout_to_stderr():
        result = runner.run_decoded(img, report, timings, args.domain, with_image=bool(args.out), started=t0)
    jpeg = result.pop("annotated_jpeg")
    if args.out and jpeg:
        Path(args.out).write_bytes(base64.b64decode(jpeg))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default=None, help="default $INFERENCE_HOST or 127.0.0.1")
    s.add_argument("--port", type=int, default=None, help="default $INFERENCE_PORT or 8090")
    s.add_argument("--device", default=None, help="default $INFERENCE_DEVICE, else cuda when present, else cpu")
    s.add_argument("--weights", default=None, help="default $WEIGHTS_DIR or weights/")
    s.add_argument("--workers", type=int, default=None,
                   help="service processes sharing the port (default $INFERENCE_WORKERS or 1; see inference/service/workers.py)")
    s.set_defaults(fn=cmd_serve)
    a = sub.add_parser("analyze", help="analyse one photo, print the JSON answer")
    a.add_argument("photo")
    a.add_argument("--domain", choices=("auto", "scalp", "face"), default="auto")
    a.add_argument("--out", default=None, help="write the annotated JPEG here")
    a.add_argument("--device", default=None)
    a.add_argument("--weights", default=None)
    a.set_defaults(fn=cmd_analyze)
    args = p.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
